/*
 * qemubox-fsd [-d] [-S] [-v VIRTIOFSD]: the volume helper. Started by the
 * shim daemon while it is still root (shim/shim_serve.c), with its imsg
 * socket on fd 3. It cuts its capabilities to what virtiofsd needs
 * (fsd/fsd_priv.c), installs its seccomp filter (seccomp/fsd.c; inherited
 * by virtiofsd, which adds its own) and then serves only FS_VOLUME_REQ and
 * FS_START_REQ. Anything else, a wrong size or a value it cannot validate
 * ends the connection and the process. When the shim goes away, fsd
 * terminates its virtiofsd processes and exits.
 *   -S  seccomp in log mode (security.seccomp = "log")
 *   -v  the virtiofsd binary (tests); default QB_VIRTIOFSD
 */
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fsd/fsd.h"
#include "imsg/imsg.h"
#include "lib/log.h"
#include "seccomp/seccomp.h"

#define MAX_CHILDREN 16
#define EXIT_WAIT_MS 3000

static struct qb_fs_volume staged[QB_FS_MAX_VOLUMES];
static size_t nstaged;
/* One running share: its virtiofsd, its mount namespace (fd), its id
 * and which spare slots hold a volume. */
struct share {
	pid_t pid;  /* 0: free entry */
	int keeper; /* the share's keeper (spare slots), else -1 */
	char id[QB_ID_MAX];
	uint32_t first_spare; /* QB_FS_MAX_VOLUMES: none */
	uint64_t used;        /* bit i: slot i holds a joined volume */
};
static struct share shares[MAX_CHILDREN];
static const char *virtiofsd = QB_VIRTIOFSD;

static int fsd_dispatch_shim(struct imsgbuf *);

static void
flush_or_die(struct imsgbuf *ibuf)
{
	struct pollfd pfd = {ibuf->fd, POLLOUT, 0};

	while (msgbuf_queuelen(&ibuf->w) > 0) {
		if (imsg_flush(ibuf) == 0)
			break;
		if (errno != EAGAIN && errno != EINTR)
			fatal("flush: write to the shim");
		poll(&pfd, 1, -1);
	}
}

/* The helpers' one bad-peer policy (imsg/qb_imsg_peer.c). */
static __attribute__((noreturn)) void
kill_connection(const char *why, uint32_t type)
{
	qb_imsg_kill_peer("fsd_dispatch_shim", why, type, NULL);
}

static void
reply_error(struct imsgbuf *ibuf, uint32_t peerid, uint32_t req_type,
    const struct qb_error *err)
{
	if (qb_imsg_compose_error(
	        ibuf, peerid, req_type, 0, err->code, err->msg) == -1)
		fatal("%s: imsg_compose", __func__);
	flush_or_die(ibuf);
}

static void
children_reap(bool all)
{
	int status;
	size_t i;

	for (i = 0; i < MAX_CHILDREN; i++) {
		pid_t r;

		if (shares[i].pid <= 0)
			continue;
		r = waitpid(shares[i].pid, &status, all ? 0 : WNOHANG);
		if (r == shares[i].pid || (r == -1 && errno == ECHILD)) {
			log_debug("%s: virtiofsd %d ended (status 0x%x)",
			    __func__, (int)shares[i].pid, r > 0 ? status : 0);
			if (shares[i].keeper != -1)
				close(shares[i].keeper);
			memset(&shares[i], 0, sizeof(shares[i]));
		}
	}
}

static void
child_add(pid_t p, int keeper, const char *id, uint32_t first_spare)
{
	size_t i;

	for (i = 0; i < MAX_CHILDREN; i++)
		if (shares[i].pid <= 0) {
			shares[i].pid = p;
			shares[i].keeper = keeper;
			snprintf(shares[i].id, sizeof(shares[i].id), "%s", id);
			shares[i].first_spare = first_spare;
			shares[i].used = 0;
			return;
		}
}

static int
children_running(void)
{
	size_t i;
	int n = 0;

	for (i = 0; i < MAX_CHILDREN; i++)
		n += shares[i].pid > 0;
	return n;
}

/* The running share of sandbox id, or NULL. */
static struct share *
share_find(const char *id)
{
	size_t i;

	for (i = 0; i < MAX_CHILDREN; i++)
		if (shares[i].pid > 0 && strcmp(shares[i].id, id) == 0)
			return &shares[i];
	return NULL;
}

static void
children_reap_some(void)
{
	children_reap(false);
}

/* The shim is gone: so is every volume's user. */
static void
children_stop(void)
{
	struct timespec ms10 = {0, 10 * 1000 * 1000};
	size_t i;
	int t;

	for (i = 0; i < MAX_CHILDREN; i++)
		if (shares[i].pid > 0)
			kill(shares[i].pid, SIGTERM);
	for (t = 0; t < EXIT_WAIT_MS / 10 && children_running() > 0; t++) {
		children_reap(false);
		nanosleep(&ms10, NULL);
	}
	for (i = 0; i < MAX_CHILDREN; i++)
		if (shares[i].pid > 0)
			kill(shares[i].pid, SIGKILL);
	children_reap(true);
}

static void
check_id(const char *id, size_t size, uint32_t type)
{
	if (qb_imsg_check_strfield(id, size) < 0 || !fsd_valid_id(id))
		kill_connection("invalid sandbox id", type);
}

static void
check_volume(const struct qb_fs_volume *v, uint32_t type)
{
	if (v->index >= QB_FS_MAX_VOLUMES)
		kill_connection("slot out of range", type);
	if (v->readonly > 1)
		kill_connection("bad readonly flag", type);
	if (qb_imsg_check_strfield(v->source, sizeof(v->source)) < 0 ||
	    !fsd_valid_source(v->source))
		kill_connection("source is not a clean absolute path", type);
}

static int
fsd_dispatch_shim(struct imsgbuf *ibuf)
{
	struct qb_fs_add_req areq;
	struct qb_fs_slot slot;
	struct share *sh;
	int keeper;
	struct qb_fs_volume vol;
	struct qb_fs_start_req sreq;
	struct qb_fs_start_res res;
	struct qb_error err;
	struct imsg imsg;
	uint32_t type, peerid;
	ssize_t n;
	pid_t pid;
	int fd;

	for (;;) {
		if ((n = imsg_get(ibuf, &imsg)) == -1)
			kill_connection("unreadable message", 0);
		if (n == 0)
			return 0;
		type = imsg_get_type(&imsg);
		peerid = imsg_get_id(&imsg);
		qb_clearerr(&err);
		if ((fd = imsg_get_fd(&imsg)) != -1) {
			close(fd);
			kill_connection("unexpected fd", type);
		}

		/* First validate everything, then act. */
		switch (type) {
		case IMSG_FS_VOLUME_REQ:
			if (qb_imsg_get_struct(&imsg, &vol, sizeof(vol)) == -1)
				kill_connection("wrong payload size", type);
			if (vol.index != nstaged ||
			    nstaged >= QB_FS_MAX_VOLUMES)
				kill_connection("volume out of order", type);
			check_volume(&vol, type);
			break;
		case IMSG_FS_ADD_REQ:
			if (qb_imsg_get_struct(&imsg, &areq, sizeof(areq)) ==
			    -1)
				kill_connection("wrong payload size", type);
			check_id(areq.id, sizeof(areq.id), type);
			check_volume(&areq.vol, type);
			sh = share_find(areq.id);
			if (sh != NULL &&
			    (areq.vol.index < sh->first_spare ||
			        (sh->used >> areq.vol.index & 1) != 0))
				kill_connection(
				    "not a free spare slot of the share", type);
			break;
		case IMSG_FS_DEL_REQ:
			if (qb_imsg_get_struct(&imsg, &slot, sizeof(slot)) ==
			    -1)
				kill_connection("wrong payload size", type);
			check_id(slot.id, sizeof(slot.id), type);
			if (slot.index >= QB_FS_MAX_VOLUMES)
				kill_connection("slot out of range", type);
			sh = share_find(slot.id);
			if (sh != NULL && (sh->used >> slot.index & 1) == 0)
				kill_connection(
				    "no joined volume in that slot", type);
			break;
		case IMSG_FS_START_REQ:
			if (qb_imsg_get_struct(&imsg, &sreq, sizeof(sreq)) ==
			    -1)
				kill_connection("wrong payload size", type);
			check_id(sreq.id, sizeof(sreq.id), type);
			if (sreq.spare > 1)
				kill_connection("bad spare flag", type);
			if ((sreq.nvolumes == 0 && !sreq.spare) ||
			    sreq.nvolumes != nstaged)
				kill_connection(
				    "volume count differs from staged", type);
			break;
		default:
			kill_connection("unexpected message type", type);
		}
		imsg_free(&imsg);

		switch (type) {
		case IMSG_FS_VOLUME_REQ:
			staged[nstaged++] = vol;
			break;
		case IMSG_FS_START_REQ:
			children_reap(false);
			if (share_find(sreq.id) != NULL) {
				qb_seterr(&err, QB_E_EXISTS,
				    "%s: its virtiofsd still runs", sreq.id);
				nstaged = 0;
				reply_error(ibuf, peerid, type, &err);
				break;
			}
			if (children_running() >= MAX_CHILDREN) {
				qb_seterr(&err, QB_E_EXHAUSTED,
				    "%s: more than %d virtiofsd processes",
				    sreq.id, MAX_CHILDREN);
				nstaged = 0;
				reply_error(ibuf, peerid, type, &err);
				break;
			}
			if (fsd_spawn(sreq.id, staged, nstaged, sreq.spare,
			        virtiofsd, &pid, &fd, &keeper, &err) == -1) {
				nstaged = 0;
				reply_error(ibuf, peerid, type, &err);
				break;
			}
			child_add(pid, keeper, sreq.id,
			    sreq.spare ? (uint32_t)nstaged : QB_FS_MAX_VOLUMES);
			nstaged = 0;
			memset(&res, 0, sizeof(res));
			res.pid = pid;
			/* imsg closes fd once sent. */
			if (imsg_compose(ibuf, IMSG_FS_START_RES, peerid, 0, fd,
			        &res, sizeof(res)) == -1)
				fatal("%s: imsg_compose", __func__);
			flush_or_die(ibuf);
			break;
		case IMSG_FS_ADD_REQ:
		case IMSG_FS_DEL_REQ:
			/* The share may have ended (virtiofsd died): the shim
			 * cannot know, so this is answered. */
			children_reap(false);
			if ((sh = share_find(type == IMSG_FS_ADD_REQ
			                         ? areq.id
			                         : slot.id)) == NULL) {
				qb_seterr(&err, QB_E_NOTFOUND,
				    "%s: no running share",
				    type == IMSG_FS_ADD_REQ ? areq.id
				                            : slot.id);
				reply_error(ibuf, peerid, type, &err);
				break;
			}
			if (type == IMSG_FS_ADD_REQ) {
				if (fsd_share_add(sh->keeper, areq.id,
				        &areq.vol, &err) == -1) {
					reply_error(ibuf, peerid, type, &err);
					break;
				}
				sh->used |= 1ULL << areq.vol.index;
				memset(&slot, 0, sizeof(slot));
				memcpy(slot.id, areq.id, sizeof(slot.id));
				slot.index = areq.vol.index;
			} else {
				if (fsd_share_del(sh->keeper, slot.id,
				        slot.index, &err) == -1) {
					reply_error(ibuf, peerid, type, &err);
					break;
				}
				sh->used &= ~(1ULL << slot.index);
			}
			if (imsg_compose(ibuf,
			        type == IMSG_FS_ADD_REQ ? IMSG_FS_ADD_RES
			                                : IMSG_FS_DEL_RES,
			        peerid, 0, -1, &slot, sizeof(slot)) == -1)
				fatal("%s: imsg_compose", __func__);
			flush_or_die(ibuf);
			break;
		}
	}
}

static __attribute__((noreturn)) void
usage(void)
{
	fprintf(stderr, "usage: qemubox-fsd [-dS] [-v virtiofsd]\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	enum qb_seccomp_mode sc = QB_SECCOMP_ENFORCE;
	struct imsgbuf ibuf;
	int ch, fd = 3, debug = 0;

	log_init("qemubox-fsd", 0);
	/* Cut capabilities before reading anything from anyone. */
	if (fsd_priv_drop() == -1)
		fatal("fsd_priv_drop");
	while ((ch = getopt(argc, argv, "dSv:")) != -1) {
		switch (ch) {
		case 'd':
			debug = 1;
			break;
		case 'S':
			sc = QB_SECCOMP_LOG;
			break;
		case 'v':
			if (optarg[0] != '/')
				usage();
			virtiofsd = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	log_init("qemubox-fsd", debug);
	signal(SIGPIPE, SIG_IGN);
	if (seccomp_apply_fsd(sc) == -1)
		fatal("seccomp_apply_fsd");

	imsg_init(&ibuf, fd);
	/* Wake now and then to reap virtiofsd processes that ended. */
	(void)qb_imsg_serve(&ibuf, fsd_dispatch_shim, 1000, children_reap_some);
	imsg_clear(&ibuf);
	children_stop();
	return 0;
}
