#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "privnet/privnet.h"

#define CNI_STDERR_MAX 2048

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The plugin binary: first bin dir (config only) holding an executable. */
static int
find_plugin(
    const struct qb_config *cfg, const char *type, char *path, size_t pathlen)
{
	struct stat st;
	unsigned i;

	if (!privnet_valid_cni_name(type, CNI_TYPE_MAX)) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < cfg->network.n_cni_bin_dirs; i++) {
		if ((size_t)snprintf(path, pathlen, "%s/%s",
		        cfg->network.cni_bin_dirs[i], type) >= pathlen)
			continue;
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		    (st.st_mode & 0111) != 0)
			return 0;
	}
	errno = ENOENT;
	return -1;
}

static void
cni_path_env(const struct qb_config *cfg, char *buf, size_t len)
{
	size_t off;
	unsigned i;

	off = (size_t)snprintf(buf, len, "CNI_PATH=");
	for (i = 0; i < cfg->network.n_cni_bin_dirs && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
		    i ? ":" : "", cfg->network.cni_bin_dirs[i]);
}

/* Append up to what fits; the rest is read and dropped. */
static int
drain(int fd, char **buf, size_t *len, size_t cap)
{
	char tmp[4096];
	ssize_t r;
	char *n;

	r = read(fd, tmp, sizeof(tmp));
	if (r == -1)
		return (errno == EINTR || errno == EAGAIN) ? 1 : -1;
	if (r == 0)
		return 0;
	if (*len + (size_t)r > cap)
		r = (ssize_t)(cap > *len ? cap - *len : 0);
	if (r > 0) {
		if ((n = realloc(*buf, *len + (size_t)r + 1)) == NULL)
			return -1;
		*buf = n;
		memcpy(*buf + *len, tmp, (size_t)r);
		*len += (size_t)r;
		(*buf)[*len] = '\0';
	}
	return 1;
}

static void
printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = ' ';
}

/*
 * The plugin's process with in/out/err as its stdio. vfork: the child only
 * sets up its fds and mask and execs, so it runs on our memory while we
 * wait; a fork would copy privnet's page tables for each plugin and leave
 * us copy-on-write faults. Its own function, so no caller's locals share a
 * frame with the child.
 */
static pid_t __attribute__((noinline)) plugin_spawn(const char *path,
    char *const argv[], char *const envp[], int in, int out, int err)
{
	sigset_t all;
	pid_t pid;

	if ((pid = vfork()) != 0)
		return pid;
	/* Dying with privnet keeps a late ADD from racing a DEL. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	if (dup2(in, 0) == -1 || dup2(out, 1) == -1 || dup2(err, 2) == -1)
		_exit(127);
	closefrom(3);
	execve(path, argv, envp);
	_exit(127);
}

int
cni_exec_plugin(const struct qb_config *cfg, const char *type,
    const struct cni_call *call, const char *stdin_buf, size_t stdin_len,
    char **out, size_t *outlen, struct qb_error *err)
{
	char path[PATH_MAX], e_cmd[64], e_cid[128],
	    e_ns[QB_NETNS_PATH_MAX + 16], e_if[64],
	    e_path[QB_CONFIG_MAX_BIN_DIRS * PATH_MAX + 16];
	char *envp[] = {e_cmd, e_cid, e_ns, e_if, e_path,
	    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	    NULL};
	char *argv[] = {path, NULL};
	int in[2] = {-1, -1}, po[2] = {-1, -1}, pe[2] = {-1, -1};
	char *sout = NULL, *serr = NULL;
	size_t olen = 0, elen = 0, woff = 0;
	uint64_t deadline;
	int status = 0, timed_out = 0, open_fds;
	pid_t pid;

	*out = NULL;
	*outlen = 0;
	if (find_plugin(cfg, type, path, sizeof(path)) == -1)
		return qb_seterr(err, QB_E_PRECONDITION,
		    "CNI plugin \"%s\" not found in network.cni_bin_dirs",
		    type);
	snprintf(e_cmd, sizeof(e_cmd), "CNI_COMMAND=%s", call->command);
	snprintf(
	    e_cid, sizeof(e_cid), "CNI_CONTAINERID=%s", call->container_id);
	snprintf(e_ns, sizeof(e_ns), "CNI_NETNS=%s", call->netns);
	snprintf(e_if, sizeof(e_if), "CNI_IFNAME=%s", call->ifname);
	cni_path_env(cfg, e_path, sizeof(e_path));

	if (pipe2(in, O_CLOEXEC) == -1 || pipe2(po, O_CLOEXEC) == -1 ||
	    pipe2(pe, O_CLOEXEC) == -1)
		goto syserr;
	if ((pid = plugin_spawn(path, argv, envp, in[0], po[1], pe[1])) == -1)
		goto syserr;
	close(in[0]);
	close(po[1]);
	close(pe[1]);
	in[0] = po[1] = pe[1] = -1;
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	if (stdin_len == 0) {
		close(in[1]);
		in[1] = -1;
	}

	deadline = now_ms() + cfg->network.cni_timeout_ms;
	open_fds = 2;
	while (open_fds > 0 || in[1] != -1) {
		struct pollfd pfd[3] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0},
		    {in[1], POLLOUT, 0}};
		uint64_t now = now_ms();
		int r;

		if (now >= deadline) {
			timed_out = 1;
			break;
		}
		r = poll(pfd, 3, (int)(deadline - now));
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			break;
		if (pfd[2].revents & (POLLOUT | POLLERR | POLLHUP)) {
			ssize_t w =
			    write(in[1], stdin_buf + woff, stdin_len - woff);
			if (w > 0)
				woff += (size_t)w;
			if ((w == -1 && errno != EAGAIN && errno != EINTR) ||
			    woff == stdin_len) {
				close(in[1]);
				in[1] = -1;
			}
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			r = drain(po[0], &sout, &olen, CNI_RESULT_MAX_BYTES);
			if (r <= 0) {
				close(po[0]);
				po[0] = -1;
				open_fds--;
			}
		}
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			r = drain(pe[0], &serr, &elen, CNI_STDERR_MAX);
			if (r <= 0) {
				close(pe[0]);
				pe[0] = -1;
				open_fds--;
			}
		}
	}
	if (timed_out)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (in[1] != -1)
		close(in[1]);
	if (po[0] != -1)
		close(po[0]);
	if (pe[0] != -1)
		close(pe[0]);
	if (serr != NULL)
		printable(serr);

	if (timed_out) {
		qb_seterr(err, QB_E_DEADLINE,
		    "CNI plugin %s %s: timed out after %llu ms "
		    "(network.cni_timeout)%s%s",
		    type, call->command,
		    (unsigned long long)cfg->network.cni_timeout_ms,
		    serr ? ": " : "", serr ? serr : "");
		goto fail;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		/* The spec: an error object on stdout; else quote stderr. */
		if (sout != NULL && olen > 0 &&
		    (cni_error_parse(sout, olen, err),
		        strncmp(err->msg, "CNI error ", 10) == 0))
			qb_preferr(
			    err, "CNI plugin %s %s", type, call->command);
		else if (WIFSIGNALED(status))
			qb_seterr(err, QB_E_INTERNAL,
			    "CNI plugin %s %s: killed by signal %d%s%s", type,
			    call->command, WTERMSIG(status), serr ? ": " : "",
			    serr ? serr : "");
		else
			qb_seterr(err, QB_E_INTERNAL,
			    "CNI plugin %s %s: exit status %d%s%s", type,
			    call->command, WEXITSTATUS(status),
			    serr ? ": " : "", serr ? serr : "");
		goto fail;
	}
	free(serr);
	if (sout == NULL && (sout = strdup("")) == NULL)
		return qb_seterr(err, QB_E_INTERNAL, "out of memory");
	*out = sout;
	*outlen = olen;
	return 0;
syserr:
	qb_seterr(
	    err, QB_E_INTERNAL, "CNI plugin %s: %s", type, strerror(errno));
	for (int i = 0; i < 2; i++) {
		if (in[i] != -1)
			close(in[i]);
		if (po[i] != -1)
			close(po[i]);
		if (pe[i] != -1)
			close(pe[i]);
	}
fail:
	free(sout);
	free(serr);
	errno = EIO;
	return -1;
}

int
cni_chain_add(const struct qb_config *cfg, const struct cni_conflist *cl,
    const struct cni_call *call, cni_progress_fn progress, void *arg,
    char **result, size_t *result_len, struct qb_error *err)
{
	struct cni_call del = *call;
	struct qb_error derr;
	char *prev = NULL, *conf, *out;
	size_t len, olen;
	unsigned i;

	*result = NULL;
	for (i = 0; i < cl->n_plugins; i++) {
		if ((conf = cni_plugin_config(cl, i, prev, &len, err)) == NULL)
			goto fail;
		if (cni_exec_plugin(cfg, cl->types[i], call, conf, len, &out,
		        &olen, err) == -1) {
			free(conf);
			goto fail;
		}
		free(conf);
		/* A plugin that prints nothing passes the previous result on.
		 */
		if (olen == 0) {
			free(out);
			continue;
		}
		free(prev);
		prev = out;
		if (progress != NULL && progress(arg, i + 1, prev) == -1) {
			qb_seterr(err, QB_E_INTERNAL,
			    "CNI network %s: recording the result: %s",
			    cl->name, strerror(errno));
			goto fail;
		}
	}
	if (prev == NULL)
		return qb_seterr(err, QB_E_INTERNAL,
		    "CNI network %s: no plugin returned a result", cl->name);
	*result = prev;
	*result_len = strlen(prev);
	return 0;
fail:
	del.command = "DEL";
	log_warnx("%s: %s: %s; running DEL on the chain", __func__,
	    call->container_id, err->msg);
	cni_chain_del(cfg, cl, &del, prev, &derr);
	free(prev);
	return -1;
}

int
cni_chain_del(const struct qb_config *cfg, const struct cni_conflist *cl,
    const struct cni_call *call, const char *prev_result, struct qb_error *err)
{
	struct qb_error e1;
	char *conf, *out;
	size_t len, olen;
	unsigned i;
	int rc = 0;

	for (i = cl->n_plugins; i-- > 0;) {
		qb_clearerr(&e1);
		if ((conf = cni_plugin_config(cl, i, prev_result, &len, &e1)) ==
		        NULL ||
		    cni_exec_plugin(cfg, cl->types[i], call, conf, len, &out,
		        &olen, &e1) == -1) {
			log_warnx(
			    "%s: %s: %s", __func__, call->container_id, e1.msg);
			if (rc == 0 && err != NULL)
				*err = e1;
			rc = -1;
		} else
			free(out);
		free(conf);
	}
	return rc;
}
