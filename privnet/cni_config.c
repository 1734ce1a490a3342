#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "privnet/privnet.h"

static int
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && strcmp(s + n - m, suffix) == 0;
}

int
cni_conflist_find(
    const char *dir, char *path, size_t pathlen, struct qb_error *err)
{
	struct dirent **names = NULL;
	int i, n, found = -1;

	if ((n = scandir(dir, &names, NULL, alphasort)) == -1)
		return qb_seterr(err, QB_E_PRECONDITION,
		    "CNI config dir %s: %s (network.cni_conf_dir)", dir,
		    strerror(errno));
	for (i = 0; i < n; i++) {
		if (found == -1 && names[i]->d_name[0] != '.' &&
		    ends_with(names[i]->d_name, ".conflist"))
			found = i;
	}
	if (found != -1 && (size_t)snprintf(path, pathlen, "%s/%s", dir,
	                       names[found]->d_name) >= pathlen)
		found = -2;
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (found == -1)
		return qb_seterr(err, QB_E_PRECONDITION,
		    "no *.conflist in CNI config dir %s (network.cni_conf_dir)",
		    dir);
	if (found == -2)
		return qb_seterr(err, QB_E_PRECONDITION,
		    "CNI config path in %s too long", dir);
	return 0;
}

static int
read_file(const char *path, char **buf, size_t *len, struct qb_error *err)
{
	struct stat st;
	ssize_t r;
	size_t off = 0;
	int fd;

	*buf = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return qb_seterr(err, QB_E_PRECONDITION, "CNI config %s: %s",
		    path, strerror(errno));
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    st.st_size > CNI_CONFLIST_MAX_BYTES) {
		close(fd);
		return qb_seterr(err, QB_E_PRECONDITION,
		    "CNI config %s: not a regular file of 1..%d bytes", path,
		    CNI_CONFLIST_MAX_BYTES);
	}
	if ((*buf = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return qb_seterr(err, QB_E_INTERNAL, "out of memory");
	}
	while (off < (size_t)st.st_size) {
		r = read(fd, *buf + off, (size_t)st.st_size - off);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	close(fd);
	(*buf)[off] = '\0';
	*len = off;
	return 0;
}

int
cni_conflist_load(
    const char *path, struct cni_conflist *cl, struct qb_error *err)
{
	char *buf;
	size_t len = 0;
	int rc;

	if (read_file(path, &buf, &len, err) == -1)
		return -1;
	rc = cni_conflist_parse(buf, len, cl, err);
	free(buf);
	if (rc == -1)
		return qb_preferr(err, "CNI config %s", path);
	snprintf(cl->path, sizeof(cl->path), "%s", path);
	return 0;
}

int
cni_conflist_parse(
    const char *buf, size_t len, struct cni_conflist *cl, struct qb_error *err)
{
	json_object *v, *plugins, *p, *t;
	size_t i, n;

	memset(cl, 0, sizeof(*cl));
	if (len > CNI_CONFLIST_MAX_BYTES)
		return qb_seterr(err, QB_E_PRECONDITION, "larger than %d bytes",
		    CNI_CONFLIST_MAX_BYTES);
	if ((cl->root = cni_json_parse(buf, len, err, "conflist")) == NULL)
		goto fail;
	if (!json_object_object_get_ex(cl->root, "name", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    !privnet_valid_cni_name(
	        json_object_get_string(v), sizeof(cl->name))) {
		qb_seterr(err, QB_E_PRECONDITION,
		    "\"name\" missing or not [A-Za-z0-9][A-Za-z0-9_.-]*");
		goto fail;
	}
	snprintf(cl->name, sizeof(cl->name), "%s", json_object_get_string(v));
	if (!json_object_object_get_ex(cl->root, "cniVersion", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    (strcmp(json_object_get_string(v), "0.3.0") != 0 &&
	        strcmp(json_object_get_string(v), "0.3.1") != 0 &&
	        strcmp(json_object_get_string(v), "0.4.0") != 0 &&
	        strcmp(json_object_get_string(v), "1.0.0") != 0)) {
		qb_seterr(err, QB_E_PRECONDITION,
		    "\"cniVersion\" missing or not one of 0.3.0, 0.3.1, 0.4.0, "
		    "1.0.0");
		goto fail;
	}
	snprintf(cl->cni_version, sizeof(cl->cni_version), "%s",
	    json_object_get_string(v));
	if (!json_object_object_get_ex(cl->root, "plugins", &plugins) ||
	    !json_object_is_type(plugins, json_type_array) ||
	    (n = json_object_array_length(plugins)) == 0 ||
	    n > CNI_MAX_PLUGINS) {
		qb_seterr(err, QB_E_PRECONDITION,
		    "\"plugins\" must be an array of 1..%d objects",
		    CNI_MAX_PLUGINS);
		goto fail;
	}
	for (i = 0; i < n; i++) {
		p = json_object_array_get_idx(plugins, i);
		if (!json_object_is_type(p, json_type_object) ||
		    !json_object_object_get_ex(p, "type", &t) ||
		    !json_object_is_type(t, json_type_string) ||
		    !privnet_valid_cni_name(
		        json_object_get_string(t), CNI_TYPE_MAX)) {
			/* A "type" is a file name in a bin dir: no '/', no
			 * "..". */
			qb_seterr(err, QB_E_PRECONDITION,
			    "plugins[%zu].type missing or not a plain plugin "
			    "name",
			    i);
			goto fail;
		}
		snprintf(cl->types[i], CNI_TYPE_MAX, "%s",
		    json_object_get_string(t));
	}
	cl->n_plugins = (unsigned)n;
	if ((cl->bytes = malloc(len + 1)) == NULL) {
		qb_seterr(err, QB_E_INTERNAL, "out of memory");
		goto fail;
	}
	memcpy(cl->bytes, buf, len);
	cl->bytes[len] = '\0';
	cl->len = len;
	return 0;
fail:
	cni_conflist_free(cl);
	errno = EINVAL;
	return -1;
}

void
cni_conflist_free(struct cni_conflist *cl)
{
	json_object_put(cl->root);
	free(cl->bytes);
	memset(cl, 0, sizeof(*cl));
}

char *
cni_plugin_config(const struct cni_conflist *cl, unsigned i,
    const char *prev_result, size_t *len, struct qb_error *err)
{
	json_object *plugins, *src, *conf = NULL, *prev = NULL;
	const char *s;
	char *out = NULL;

	if (i >= cl->n_plugins ||
	    !json_object_object_get_ex(cl->root, "plugins", &plugins) ||
	    (src = json_object_array_get_idx(plugins, i)) == NULL) {
		qb_seterr(err, QB_E_INTERNAL, "no plugin %u", i);
		return NULL;
	}
	/* A deep copy: the conflist stays pristine for the next call. */
	if (json_object_deep_copy(src, &conf, NULL) != 0)
		goto nomem;
	if (json_object_object_add(
	        conf, "name", json_object_new_string(cl->name)) != 0 ||
	    json_object_object_add(conf, "cniVersion",
	        json_object_new_string(cl->cni_version)) != 0)
		goto nomem;
	if (prev_result != NULL) {
		if ((prev = cni_json_parse(prev_result, strlen(prev_result),
		         err, "prevResult")) == NULL)
			goto fail;
		if (json_object_object_add(conf, "prevResult", prev) != 0) {
			json_object_put(prev);
			goto nomem;
		}
	} else
		json_object_object_del(conf, "prevResult");
	s = json_object_to_json_string_ext(conf, JSON_C_TO_STRING_PLAIN);
	if (s == NULL || (out = strdup(s)) == NULL)
		goto nomem;
	*len = strlen(out);
	json_object_put(conf);
	return out;
nomem:
	qb_seterr(err, QB_E_INTERNAL, "out of memory");
fail:
	json_object_put(conf);
	return NULL;
}
