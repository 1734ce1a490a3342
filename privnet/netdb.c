/*
 * Network state of every sandbox, in LMDB at <state_dir>/cni-config.db: one
 * record per sandbox id, written before the plugins run (so a crash mid-ADD
 * still leaves what DEL needs) and after (with the result, the prevResult of
 * DEL). Values are small JSON objects; every write is one LMDB transaction.
 */
#include <sys/stat.h>

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "privnet/privnet.h"

#define NETDB_FILE    "cni-config.db"
#define NETDB_MAPSIZE (64UL * 1024 * 1024)

struct netdb {
	MDB_env *env;
	MDB_dbi dbi;
};

static int
mdb_errno(int rc)
{
	/* LMDB returns errno values or its own codes (negative). */
	if (rc > 0)
		return rc;
	return rc == MDB_NOTFOUND ? ENOENT : EIO;
}

int
netdb_open(const char *state_dir, struct netdb **out)
{
	char path[PATH_MAX];
	struct netdb *db;
	MDB_txn *txn;
	int rc;

	*out = NULL;
	if (mkdir(state_dir, 0700) == -1 && errno != EEXIST)
		return -1;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", state_dir,
	        NETDB_FILE) >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((db = calloc(1, sizeof(*db))) == NULL)
		return -1;
	if ((rc = mdb_env_create(&db->env)) != 0)
		goto fail;
	if ((rc = mdb_env_set_mapsize(db->env, NETDB_MAPSIZE)) != 0 ||
	    (rc = mdb_env_open(db->env, path, MDB_NOSUBDIR, 0600)) != 0)
		goto fail;
	if ((rc = mdb_txn_begin(db->env, NULL, 0, &txn)) != 0)
		goto fail;
	if ((rc = mdb_dbi_open(txn, NULL, 0, &db->dbi)) != 0) {
		mdb_txn_abort(txn);
		goto fail;
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		goto fail;
	*out = db;
	return 0;
fail:
	log_warnx("%s: %s: %s", __func__, path, mdb_strerror(rc));
	if (db->env)
		mdb_env_close(db->env);
	free(db);
	errno = mdb_errno(rc);
	return -1;
}

void
netdb_close(struct netdb *db)
{
	if (db == NULL)
		return;
	mdb_env_close(db->env);
	free(db);
}

char *
netdb_rec_encode(const struct netdb_rec *rec, size_t *len)
{
	json_object *o;
	char *s = NULL;
	const char *j;

	if ((o = json_object_new_object()) == NULL)
		return NULL;
	json_object_object_add(o, "id", json_object_new_string(rec->id));
	json_object_object_add(
	    o, "state", json_object_new_int((int)rec->state));
	json_object_object_add(
	    o, "own_netns", json_object_new_boolean(rec->own_netns));
	json_object_object_add(o, "netns", json_object_new_string(rec->netns));
	json_object_object_add(
	    o, "network", json_object_new_string(rec->network));
	json_object_object_add(o, "veth", json_object_new_string(rec->veth));
	json_object_object_add(
	    o, "owner_pid", json_object_new_int64(rec->owner_pid));
	json_object_object_add(
	    o, "owner_start", json_object_new_uint64(rec->owner_start));
	if (rec->owner_boot[0] != '\0')
		json_object_object_add(
		    o, "owner_boot", json_object_new_string(rec->owner_boot));
	if (rec->owner_pidns != 0)
		json_object_object_add(
		    o, "owner_pidns", json_object_new_uint64(rec->owner_pidns));
	if (rec->worker_pid != 0)
		json_object_object_add(
		    o, "worker_pid", json_object_new_int64(rec->worker_pid));
	if (rec->worker_start != 0)
		json_object_object_add(o, "worker_start",
		    json_object_new_uint64(rec->worker_start));
	if (rec->conflist)
		json_object_object_add(
		    o, "conflist", json_object_new_string(rec->conflist));
	if (rec->result)
		json_object_object_add(
		    o, "result", json_object_new_string(rec->result));
	j = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	if (j != NULL && (s = strdup(j)) != NULL)
		*len = strlen(s);
	json_object_put(o);
	return s;
}

static int
get_str(json_object *o, const char *key, char *dst, size_t dstlen)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    (size_t)json_object_get_string_len(v) >= dstlen)
		return -1;
	memcpy(dst, json_object_get_string(v),
	    (size_t)json_object_get_string_len(v) + 1);
	return 0;
}

static int
get_dup(json_object *o, const char *key, char **dst)
{
	json_object *v;

	*dst = NULL;
	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -1;
	return (*dst = strdup(json_object_get_string(v))) ? 0 : -1;
}

int
netdb_rec_decode(const char *buf, size_t len, struct netdb_rec *rec)
{
	json_object *o, *v;
	struct qb_error err;
	int rc = -1;

	memset(rec, 0, sizeof(*rec));
	if ((o = cni_json_parse(buf, len, &err, "netdb record")) == NULL)
		goto out;
	if (get_str(o, "id", rec->id, sizeof(rec->id)) == -1 ||
	    !privnet_valid_id(rec->id) ||
	    get_str(o, "netns", rec->netns, sizeof(rec->netns)) == -1 ||
	    get_str(o, "network", rec->network, sizeof(rec->network)) == -1 ||
	    get_str(o, "veth", rec->veth, sizeof(rec->veth)) == -1 ||
	    !json_object_object_get_ex(o, "state", &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    !json_object_object_get_ex(o, "own_netns", &v) ||
	    !json_object_is_type(v, json_type_boolean))
		goto out;
	rec->own_netns = json_object_get_boolean(v);
	if (json_object_object_get_ex(o, "owner_pid", &v) &&
	    json_object_is_type(v, json_type_int))
		rec->owner_pid = json_object_get_int64(v);
	if (json_object_object_get_ex(o, "owner_start", &v) &&
	    json_object_is_type(v, json_type_int))
		rec->owner_start = json_object_get_uint64(v);
	/* Optional (records written before they existed): unknown = "". */
	if (json_object_object_get_ex(o, "owner_boot", &v) &&
	    get_str(o, "owner_boot", rec->owner_boot,
	        sizeof(rec->owner_boot)) == -1)
		goto out;
	if (json_object_object_get_ex(o, "owner_pidns", &v) &&
	    json_object_is_type(v, json_type_int))
		rec->owner_pidns = json_object_get_uint64(v);
	if (json_object_object_get_ex(o, "worker_pid", &v) &&
	    json_object_is_type(v, json_type_int))
		rec->worker_pid = json_object_get_int64(v);
	if (json_object_object_get_ex(o, "worker_start", &v) &&
	    json_object_is_type(v, json_type_int))
		rec->worker_start = json_object_get_uint64(v);
	json_object_object_get_ex(o, "state", &v);
	rec->state = (uint32_t)json_object_get_int(v);
	if (get_dup(o, "conflist", &rec->conflist) == -1 ||
	    get_dup(o, "result", &rec->result) == -1)
		goto out;
	rc = 0;
out:
	json_object_put(o);
	if (rc == -1) {
		netdb_rec_free(rec);
		errno = EBADMSG;
	}
	return rc;
}

void
netdb_rec_free(struct netdb_rec *rec)
{
	free(rec->conflist);
	free(rec->result);
	rec->conflist = rec->result = NULL;
}

int
netdb_put(struct netdb *db, const struct netdb_rec *rec)
{
	MDB_txn *txn;
	MDB_val k, v;
	size_t len;
	char *s;
	int rc;

	if ((s = netdb_rec_encode(rec, &len)) == NULL)
		return -1;
	k.mv_data = (void *)(uintptr_t)rec->id;
	k.mv_size = strlen(rec->id);
	v.mv_data = s;
	v.mv_size = len;
	if ((rc = mdb_txn_begin(db->env, NULL, 0, &txn)) == 0) {
		if ((rc = mdb_put(txn, db->dbi, &k, &v, 0)) == 0)
			rc = mdb_txn_commit(txn);
		else
			mdb_txn_abort(txn);
	}
	free(s);
	if (rc != 0) {
		log_warnx("%s: %s: %s", __func__, rec->id, mdb_strerror(rc));
		errno = mdb_errno(rc);
		return -1;
	}
	return 0;
}

int
netdb_get(struct netdb *db, const char *id, struct netdb_rec *rec)
{
	MDB_txn *txn;
	MDB_val k, v;
	int rc;

	memset(rec, 0, sizeof(*rec));
	k.mv_data = (void *)(uintptr_t)id;
	k.mv_size = strlen(id);
	if ((rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn)) != 0) {
		errno = mdb_errno(rc);
		return -1;
	}
	rc = mdb_get(txn, db->dbi, &k, &v);
	if (rc == 0)
		rc = netdb_rec_decode(v.mv_data, v.mv_size, rec) == 0 ? 0
		                                                      : EBADMSG;
	mdb_txn_abort(txn);
	if (rc != 0) {
		errno = mdb_errno(rc);
		return -1;
	}
	return 0;
}

int
netdb_del(struct netdb *db, const char *id)
{
	MDB_txn *txn;
	MDB_val k;
	int rc;

	k.mv_data = (void *)(uintptr_t)id;
	k.mv_size = strlen(id);
	if ((rc = mdb_txn_begin(db->env, NULL, 0, &txn)) != 0) {
		errno = mdb_errno(rc);
		return -1;
	}
	rc = mdb_del(txn, db->dbi, &k, NULL);
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	else
		mdb_txn_abort(txn);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		errno = mdb_errno(rc);
		return -1;
	}
	return 0;
}

int
netdb_foreach(
    struct netdb *db, int (*fn)(const struct netdb_rec *, void *), void *arg)
{
	struct netdb_rec *recs = NULL, *n;
	size_t nrecs = 0, i;
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, ret = 0;

	/* Copy first: fn may write, and LMDB has one writer at a time. */
	if ((rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn)) != 0) {
		errno = mdb_errno(rc);
		return -1;
	}
	if ((rc = mdb_cursor_open(txn, db->dbi, &cur)) != 0) {
		mdb_txn_abort(txn);
		errno = mdb_errno(rc);
		return -1;
	}
	while ((rc = mdb_cursor_get(
	            cur, &k, &v, nrecs || ret ? MDB_NEXT : MDB_FIRST)) == 0) {
		if ((n = realloc(recs, (nrecs + 1) * sizeof(*recs))) == NULL) {
			ret = -1;
			break;
		}
		recs = n;
		if (netdb_rec_decode(v.mv_data, v.mv_size, &recs[nrecs]) ==
		    -1) {
			log_warnx(
			    "%s: skipping an unreadable record", __func__);
			ret = 1;
			continue;
		}
		nrecs++;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	ret = ret == -1 ? -1 : 0;
	for (i = 0; i < nrecs; i++) {
		if (ret == 0 && fn(&recs[i], arg) == -1)
			ret = -1;
		netdb_rec_free(&recs[i]);
	}
	free(recs);
	return ret;
}
