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
/* The first read (ELF header, program headers, usually PT_INTERP). */
#define ELF_HEAD 4096
/* The needed names in one read when they lie this close together. */
#define ELF_NAMES_MAX 16384

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
	size_t off, len = strlen(path) + 1;

	if (have(d, path))
		return 0;
	off = d->n == 0 ? 0
	                : (size_t)(d->path[d->n - 1] - d->pool) +
	                      strlen(d->path[d->n - 1]) + 1;
	if (d->n >= ELF_DEPS_MAX || len > sizeof(d->pool) - off) {
		errno = E2BIG;
		return -1;
	}
	memcpy(d->pool + off, path, len);
	d->path[d->n++] = d->pool + off;
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

/* len bytes at off copied from the first read, if they lie within it. */
static bool
from_head(
    const char *head, size_t head_len, void *buf, size_t len, uint64_t off)
{
	if (off > head_len || len > head_len - off)
		return false;
	memcpy(buf, head + off, len);
	return true;
}

/*
 * pread, not mmap: on this kind of host (itself a VM) every munmap is a
 * TLB shootdown and every fault on a mapping costs a few microseconds;
 * reading the pieces we need (headers, dynamic section, each needed
 * name) made the scan of QEMU and its modules 5x cheaper per VM start.
 */
static int
scan(struct elf_deps *d, const char *file)
{
	char needed[64][NAME_MAX + 1], cand[PATH_MAX], interp[PATH_MAX];
	Elf64_Ehdr eh;
	Elf64_Phdr ph[ELF_PHDR_MAX];
	Elf64_Dyn *dyn = NULL;
	char head[ELF_HEAD], *names = NULL;
	size_t ndyn = 0, nneeded = 0, i, k, head_len, names_len;
	uint64_t strtab = 0, strsz = 0, stroff, size, o, names_lo, names_hi;
	struct stat st;
	int fd, rc = -1;

	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &st) == -1)
		goto out;
	size = (uint64_t)st.st_size;
	/* One read for the headers where they fit in the first page. */
	head_len = size < ELF_HEAD ? (size_t)size : ELF_HEAD;
	if (read_at(fd, head, head_len, 0) == -1 || head_len < sizeof(eh)) {
		errno = ENOEXEC;
		goto out;
	}
	memcpy(&eh, head, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > ELF_PHDR_MAX ||
	    eh.e_phoff + (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > size) {
		errno = ENOEXEC;
		goto out;
	}
	if (!from_head(head, head_len, ph, eh.e_phnum * sizeof(Elf64_Phdr),
	        eh.e_phoff) &&
	    read_at(fd, ph, eh.e_phnum * sizeof(Elf64_Phdr), eh.e_phoff) == -1)
		goto out;
	for (i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_offset + ph[i].p_filesz > size)
			continue;
		if (ph[i].p_type == PT_INTERP && ph[i].p_filesz > 1 &&
		    ph[i].p_filesz < PATH_MAX &&
		    (from_head(head, head_len, interp, ph[i].p_filesz,
		         ph[i].p_offset) ||
		        read_at(fd, interp, ph[i].p_filesz, ph[i].p_offset) ==
		            0) &&
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
	/*
	 * A string table can be 100s of KiB: the span of the needed names
	 * (they usually sit together near its start) in one read when it is
	 * small, else each name on its own.
	 */
	names_lo = UINT64_MAX;
	names_hi = 0;
	for (i = 0; i < ndyn && dyn[i].d_tag != DT_NULL; i++) {
		if (dyn[i].d_tag != DT_NEEDED || stroff >= size ||
		    dyn[i].d_un.d_val >= size - stroff)
			continue;
		o = stroff + dyn[i].d_un.d_val;
		if (o < names_lo)
			names_lo = o;
		if (o > names_hi)
			names_hi = o;
	}
	names_len = 0;
	if (names_lo != UINT64_MAX &&
	    names_hi - names_lo + sizeof(needed[0]) <= ELF_NAMES_MAX &&
	    (names = malloc(ELF_NAMES_MAX)) != NULL) {
		names_len = (size_t)(names_hi - names_lo) + sizeof(needed[0]);
		if (names_len > size - names_lo)
			names_len = (size_t)(size - names_lo);
		if (read_at(fd, names, names_len, names_lo) == -1)
			names_len = 0;
	}
	for (i = 0; i < ndyn && dyn[i].d_tag != DT_NULL && nneeded < 64; i++) {
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
		if (names_len != 0 && o >= names_lo &&
		    o - names_lo + len <= names_len) {
			memcpy(needed[nneeded], names + (o - names_lo), len);
			n = (ssize_t)len;
		} else
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
	free(names);
	names = NULL;
	for (i = 0; i < nneeded; i++) {
		for (k = 0; libdirs[k] != NULL; k++) {
			snprintf(cand, sizeof(cand), "%s/%.255s", libdirs[k],
			    needed[i]);
			/* Found before: no second access() and no rescan. */
			if (have(d, cand))
				break;
			if (access(cand, R_OK) != 0)
				continue;
			/* Added to the list: elf_deps_add() scans it later. */
			if (add_path(d, cand) == -1)
				return -1;
			break;
		}
	}
	return 0;
out:
	if (fd != -1)
		close(fd);
	free(dyn);
	free(names);
	return rc;
}

/*
 * Breadth first over the list itself: what a scan adds is scanned in turn,
 * once. No recursion, so one frame of scan()'s buffers (~30 KiB) is all
 * the stack it takes; recursing, the chains of QEMU's libraries left ~100
 * KiB of touched stack in vmmon for the VM's life.
 */
int
elf_deps_add(struct elf_deps *deps, const char *file)
{
	size_t i = deps->n;

	if (scan(deps, file) == -1)
		return -1;
	for (; i < deps->n; i++)
		if (scan(deps, deps->path[i]) == -1 && errno == E2BIG)
			return -1;
	return 0;
}
