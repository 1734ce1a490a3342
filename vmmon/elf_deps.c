#include "vmmon/elf_deps.h"

#include <sys/stat.h>

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Bounds on what one library may make us read. */
#define ELF_PHDR_MAX 64
#define ELF_DYN_MAX  1024

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

/* Exactly len bytes at off, or -1 (a short file is not an ELF we use). */
static int
read_at(int fd, void *buf, size_t len, uint64_t off)
{
	ssize_t n;

	do
		n = pread(fd, buf, len, (off_t)off);
	while (n == -1 && errno == EINTR);
	if (n != (ssize_t)len) {
		if (n >= 0)
			errno = ENOEXEC;
		return -1;
	}
	return 0;
}

/*
 * pread, not mmap: on this kind of host (itself a VM) every munmap is a
 * TLB shootdown and every fault on a mapping costs a few microseconds;
 * reading the pieces we need (headers, dynamic section, each needed
 * name) made the scan of QEMU and its modules 5x cheaper per VM start.
 */
static int
walk(struct elf_deps *d, const char *file, int depth)
{
	char needed[64][NAME_MAX + 1], cand[PATH_MAX], interp[PATH_MAX];
	Elf64_Ehdr eh;
	Elf64_Phdr ph[ELF_PHDR_MAX];
	Elf64_Dyn *dyn = NULL;
	size_t ndyn = 0, nneeded = 0, i, k;
	uint64_t strtab = 0, strsz = 0, stroff, size;
	struct stat st;
	int fd, rc = -1;

	if (depth > 16)
		return 0;
	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &st) == -1)
		goto out;
	size = (uint64_t)st.st_size;
	if (read_at(fd, &eh, sizeof(eh), 0) == -1)
		goto out;
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > ELF_PHDR_MAX ||
	    eh.e_phoff + (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > size) {
		errno = ENOEXEC;
		goto out;
	}
	if (read_at(fd, ph, eh.e_phnum * sizeof(Elf64_Phdr), eh.e_phoff) == -1)
		goto out;
	for (i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_offset + ph[i].p_filesz > size)
			continue;
		if (ph[i].p_type == PT_INTERP && ph[i].p_filesz > 1 &&
		    ph[i].p_filesz < PATH_MAX &&
		    read_at(fd, interp, ph[i].p_filesz, ph[i].p_offset) == 0 &&
		    interp[ph[i].p_filesz - 1] == '\0')
			add_path(d, interp);
		if (ph[i].p_type == PT_DYNAMIC && dyn == NULL) {
			ndyn = ph[i].p_filesz / sizeof(Elf64_Dyn);
			if (ndyn > ELF_DYN_MAX)
				ndyn = ELF_DYN_MAX;
			if (ndyn == 0)
				continue;
			if ((dyn = calloc(ndyn, sizeof(*dyn))) == NULL)
				goto out;
			if (read_at(fd, dyn, ndyn * sizeof(*dyn),
			        ph[i].p_offset) == -1)
				goto out;
		}
	}
	for (i = 0; i < ndyn && dyn[i].d_tag != DT_NULL; i++) {
		if (dyn[i].d_tag == DT_STRTAB)
			strtab = dyn[i].d_un.d_ptr;
		else if (dyn[i].d_tag == DT_STRSZ)
			strsz = dyn[i].d_un.d_val;
	}
	if (dyn == NULL || !vaddr_off(ph, eh.e_phnum, strtab, &stroff)) {
		rc = 0; /* static: nothing needed */
		goto out;
	}
	/* Each name on its own: a string table can be 100s of KiB. */
	for (i = 0; i < ndyn && dyn[i].d_tag != DT_NULL && nneeded < 64; i++) {
		uint64_t o;
		size_t len;
		ssize_t n;

		if (dyn[i].d_tag != DT_NEEDED)
			continue;
		if (stroff >= size || dyn[i].d_un.d_val >= size - stroff ||
		    (strsz != 0 && dyn[i].d_un.d_val >= strsz))
			continue;
		o = stroff + dyn[i].d_un.d_val;
		len = sizeof(needed[0]);
		if (len > size - o)
			len = (size_t)(size - o);
		do
			n = pread(fd, needed[nneeded], len, (off_t)o);
		while (n == -1 && errno == EINTR);
		/* Skipped: unterminated (longer than NAME_MAX) or a path. */
		if (n <= 0 ||
		    memchr(needed[nneeded], '\0', (size_t)n) == NULL ||
		    strchr(needed[nneeded], '/') != NULL)
			continue;
		nneeded++;
	}
	close(fd);
	fd = -1;
	free(dyn);
	dyn = NULL;
	for (i = 0; i < nneeded; i++) {
		for (k = 0; libdirs[k] != NULL; k++) {
			snprintf(cand, sizeof(cand), "%s/%.255s", libdirs[k],
			    needed[i]);
			/* Found before: no second access() and no rescan. */
			if (have(d, cand))
				break;
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
	if (fd != -1)
		close(fd);
	free(dyn);
	return rc;
}

int
elf_deps_add(struct elf_deps *deps, const char *file)
{
	return walk(deps, file, 0);
}
