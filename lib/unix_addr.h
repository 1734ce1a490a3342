/*
 * The address of a unix socket path, for bind() and connect(): the one
 * place a struct sockaddr_un is filled.
 */
#ifndef QEMUBOX_LIB_UNIX_ADDR_H
#define QEMUBOX_LIB_UNIX_ADDR_H

#include <sys/socket.h>
#include <sys/un.h>

/* AF_UNIX + path with its NUL; -1/ENAMETOOLONG when path does not fit. */
int unix_addr(struct sockaddr_un *sun, const char *path);

#endif
