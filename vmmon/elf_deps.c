#include "vmmon/elf_deps.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ld.so's built-in search list on Debian x86_64 (no ld.so.cache). */
static const char *const libdirs[] = {"/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib",
    NULL};

static bool
have(const struct elf_deps *d, const char *path)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		if (strcmp(d->path[i], path) == 0)
			return true;
	return false;
}

static int
add_path(struct elf_deps *d, const char *path)
{
	if (have(d, path))
		return 0;
	if (d->n >= ELF_DEPS_MAX) {
		errno = E2BIG;
		return -1;
	}
	snprintf(d->path[d->n++], PATH_MAX, "%s", path);
	return 1;
}

/* File offset of a virtual address, through the PT_LOAD segments. */
static bool
vaddr_off(const Elf64_Phdr *ph, size_t nph, uint64_t va, uint64_t *off)
{
	size_t i;

	for (i = 0; i < nph; i++)
		if (ph[i].p_type == PT_LOAD && va >= ph[i].p_vaddr &&
		    va < ph[i].p_vaddr + ph[i].p_filesz) {
			*off = va - ph[i].p_vaddr + ph[i].p_offset;
			return true;
		}
	return false;
}

static int
walk(struct elf_deps *d, const char *file, int depth)
{
	char needed[64][NAME_MAX + 1], cand[PATH_MAX];
	const Elf64_Ehdr *eh;
	const Elf64_Phdr *ph;
	const Elf64_Dyn *dyn = NULL;
	size_t ndyn = 0, nneeded = 0, i, k;
	uint64_t strtab = 0, stroff;
	struct stat st;
	unsigned char *m;
	int fd, rc = -1;

	if (depth > 16)
		return 0;
	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &st) == -1 || (size_t)st.st_size < sizeof(*eh)) {
		close(fd);
		errno = ENOEXEC;
		return -1;
	}
	m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return -1;
	eh = (const Elf64_Ehdr *)m;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_phentsize != sizeof(Elf64_Phdr) ||
	    eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) >
	        (uint64_t)st.st_size) {
		errno = ENOEXEC;
		goto out;
	}
	ph = (const Elf64_Phdr *)(m + eh->e_phoff);
	for (i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_offset + ph[i].p_filesz > (uint64_t)st.st_size)
			continue;
		if (ph[i].p_type == PT_INTERP && ph[i].p_filesz > 1 &&
		    ph[i].p_filesz < PATH_MAX &&
		    m[ph[i].p_offset + ph[i].p_filesz - 1] == '\0')
			add_path(d, (const char *)m + ph[i].p_offset);
		if (ph[i].p_type == PT_DYNAMIC) {
			dyn = (const Elf64_Dyn *)(m + ph[i].p_offset);
			ndyn = ph[i].p_filesz / sizeof(Elf64_Dyn);
		}
	}
	for (i = 0; i < ndyn && dyn[i].d_tag != DT_NULL; i++)
		if (dyn[i].d_tag == DT_STRTAB)
			strtab = dyn[i].d_un.d_ptr;
	if (dyn == NULL || !vaddr_off(ph, eh->e_phnum, strtab, &stroff)) {
		rc = 0; /* static: nothing needed */
		goto out;
	}
	for (i = 0; i < ndyn && dyn[i].d_tag != DT_NULL && nneeded < 64; i++) {
		uint64_t o;
		const char *name;

		if (dyn[i].d_tag != DT_NEEDED)
			continue;
		o = stroff + dyn[i].d_un.d_val;
		if (o >= (uint64_t)st.st_size)
			continue;
		name = (const char *)m + o;
		if (strnlen(name, (size_t)st.st_size - o) > NAME_MAX ||
		    strchr(name, '/') != NULL)
			continue;
		snprintf(needed[nneeded++], sizeof(needed[0]), "%s", name);
	}
	munmap(m, (size_t)st.st_size);
	m = NULL;
	for (i = 0; i < nneeded; i++) {
		for (k = 0; libdirs[k] != NULL; k++) {
			snprintf(cand, sizeof(cand), "%s/%.255s", libdirs[k],
			    needed[i]);
			if (access(cand, R_OK) != 0)
				continue;
			if (add_path(d, cand) == 1 &&
			    walk(d, cand, depth + 1) == -1 && errno == E2BIG)
				return -1;
			break;
		}
	}
	return 0;
out:
	if (m != NULL)
		munmap(m, (size_t)st.st_size);
	return rc;
}

int
elf_deps_add(struct elf_deps *deps, const char *file)
{
	return walk(deps, file, 0);
}
