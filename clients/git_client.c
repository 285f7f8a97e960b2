/*
 * git_client.c - publish one file to a Git repository with libgit2
 *
 * One publication: connect (fetch direction), list the remote's refs to
 * find its default branch and tip, download that branch's objects into the
 * local bare repository, write blob + tree + commit on the tip, point the
 * local branch at it and push. A rejected push starts over from the
 * connect, so the commit lands on the branch's new tip.
 */
#include "clients/git_client.h"

#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"

#define DEFAULT_BRANCH "refs/heads/main"
#define MAX_CRED_CALLS 6

/* What the credential callback may offer, and what it offered so far. */
struct auth {
    const struct git_publish *p;
    int calls;
    int ssh_next;      /* next ssh key candidate */
    int userpass_done; /* the userpass entry was offered */
};

/* One publication's libgit2 objects; released in one place. */
struct pub {
    const struct git_publish *p;
    git_repository *repo;
    git_remote *remote;
    git_remote_callbacks cbs;
    struct auth auth;
    char branch[256];
    git_oid tip; /* the remote branch's tip, when has_tip */
    int has_tip;
    int rejected;        /* the last push was refused by the remote */
    char rejection[200]; /* the remote's reason, as it gave it */
};

/* The libgit2 error, with the remote URL (credentials) replaced by the target's name. */
static enum err
git_fail(const struct pub *b, enum err rc, char *errbuf, size_t errlen, const char *what)
{
    const git_error *e = git_error_last();
    const char *msg = e && e->message ? e->message : "unknown error";
    const char *hit = strstr(msg, b->p->remote_url);
    struct buf m;

    buf_init(&m, 0);
    if (hit)
        buf_printf(&m, "%.*s%s%s", (int)(hit - msg), msg, b->p->name,
                   hit + strlen(b->p->remote_url));
    else
        buf_printf(&m, "%s", msg);
    err_set(rc, errbuf, errlen, "git %s: %s: %s", b->p->name, what, m.data ? m.data : "");
    buf_release(&m);
    return rc;
}

/* The host of an http(s) URL or credentials entry [s, end): *hlen bytes at the result. */
static const char *
url_host(const char *s, const char *end, size_t *hlen)
{
    const char *auth = s;
    const char *aend;
    const char *at = NULL;
    const char *p;
    const char *sep = NULL;

    for (p = s; p + 3 <= end; p++)
        if (memcmp(p, "://", 3) == 0) {
            sep = p;
            break;
        }
    if (!sep)
        return NULL;
    auth = sep + 3;
    aend = auth;
    while (aend < end && *aend != '/' && *aend != '?' && *aend != '#')
        aend++;
    for (p = auth; p < aend; p++) /* the last '@' ends the userinfo */
        if (*p == '@')
            at = p;
    if (at)
        auth = at + 1;
    for (p = auth; p < aend && *p != ':'; p++)
        ;
    *hlen = (size_t)(p - auth);
    return auth;
}

int
git_client_userpass_for(const char *credentials, const char *url, char *user, size_t ulen,
                        char *pass, size_t plen)
{
    const char *p = credentials;
    const char *host;
    size_t hlen;

    host = url ? url_host(url, url + strlen(url), &hlen) : NULL;
    if (!credentials || !host || hlen == 0)
        return 0;
    while (*p) {
        size_t len = strcspn(p, ",\n\r");
        const char *end = p + len;
        const char *sep = strstr(p, "://");

        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if (sep && sep + 3 < end) {
            const char *auth = sep + 3;
            size_t elen = 0;
            const char *ehost = url_host(p, end, &elen);
            const char *colon = memchr(auth, ':', (size_t)(ehost - auth));

            if (ehost > auth && colon && elen == hlen && strncasecmp(ehost, host, hlen) == 0) {
                snprintf(user, ulen, "%.*s", (int)(colon - auth), auth);
                snprintf(pass, plen, "%.*s", (int)(ehost - 1 - colon - 1), colon + 1);
                return 1;
            }
        }
        p += len;
        while (*p == ',' || *p == '\n' || *p == '\r')
            p++;
    }
    return 0;
}

/* The next ssh private key to offer: GIT_SSH_KEY, else the usual files. */
static const char *
next_ssh_key(struct auth *a, char *path, size_t len)
{
    static const char *const names[] = {"id_ed25519", "id_ecdsa", "id_rsa"};
    const char *home = a->p->home;

    if (a->p->ssh_key)
        return a->ssh_next++ == 0 ? a->p->ssh_key : NULL;
    while (home && a->ssh_next < 3) {
        snprintf(path, len, "%s/.ssh/%s", home, names[a->ssh_next++]);
        if (access(path, R_OK) == 0)
            return path;
    }
    return NULL;
}

static int
cred_cb(git_credential **out, const char *url, const char *user_from_url, unsigned int allowed,
        void *payload)
{
    struct auth *a = &((struct pub *)payload)->auth;
    const char *user = user_from_url && *user_from_url ? user_from_url : "git";
    char path[512];
    char u[256];
    char pw[512];

    if (++a->calls > MAX_CRED_CALLS)
        return GIT_EUSER;
    if (allowed & GIT_CREDENTIAL_SSH_KEY) {
        const char *key;

        if (!a->p->ssh_key && a->ssh_next == 0 && a->p->ssh_agent) {
            a->ssh_next = -1; /* the agent first, then the files from index 0 */
            return git_credential_ssh_key_from_agent(out, user);
        }
        if (a->ssh_next < 0)
            a->ssh_next = 0;
        key = next_ssh_key(a, path, sizeof(path));
        if (key)
            return git_credential_ssh_key_new(out, user, NULL, key, NULL);
    }
    if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && !a->userpass_done) {
        a->userpass_done = 1;
        if (git_client_userpass_for(a->p->credentials, url, u, sizeof(u), pw, sizeof(pw)))
            return git_credential_userpass_plaintext_new(out, u, pw);
    }
    return GIT_PASSTHROUGH;
}

static int
push_ref_cb(const char *refname, const char *status, void *data)
{
    struct pub *b = data;

    (void)refname;
    if (status) {
        b->rejected = 1;
        snprintf(b->rejection, sizeof(b->rejection), "%s", status);
    }
    return 0;
}

/* Connect, find the default branch and its tip, download it. */
static enum err
fetch_tip(struct pub *b, char *errbuf, size_t errlen)
{
    const git_remote_head **heads = NULL;
    git_fetch_options fo;
    char spec[600];
    char *specs[1] = {spec};
    git_strarray refspecs = {specs, 1};
    size_t n = 0;
    size_t i;

    git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
    memset(&b->auth, 0, sizeof(b->auth));
    b->auth.p = b->p;
    if (git_remote_connect(b->remote, GIT_DIRECTION_FETCH, &b->cbs, NULL, NULL) < 0)
        return git_fail(b, ERR_UNAVAILABLE, errbuf, errlen, "connect");
    if (git_remote_ls(&heads, &n, b->remote) < 0)
        return git_fail(b, ERR_UNAVAILABLE, errbuf, errlen, "list refs");
    snprintf(b->branch, sizeof(b->branch), "%s", DEFAULT_BRANCH);
    for (i = 0; i < n; i++)
        if (strcmp(heads[i]->name, "HEAD") == 0 && heads[i]->symref_target &&
            strncmp(heads[i]->symref_target, "refs/heads/", 11) == 0)
            snprintf(b->branch, sizeof(b->branch), "%s", heads[i]->symref_target);
    b->has_tip = 0;
    for (i = 0; i < n; i++)
        if (strcmp(heads[i]->name, b->branch) == 0) {
            git_oid_cpy(&b->tip, &heads[i]->oid);
            b->has_tip = 1;
        }
    if (b->has_tip) {
        snprintf(spec, sizeof(spec), "+%s:refs/remotes/origin/%s", b->branch, b->branch + 11);
        fo.callbacks = b->cbs;
        if (git_remote_download(b->remote, &refspecs, &fo) < 0)
            return git_fail(b, ERR_UNAVAILABLE, errbuf, errlen, "fetch");
    }
    git_remote_disconnect(b->remote);
    return ERR_OK;
}

/* The tip's tree (NULL for an empty remote) and whether the tip already is this publication. */
static enum err
tip_tree(struct pub *b, const git_oid *blob, git_tree **tree, int *done, char *errbuf,
         size_t errlen)
{
    git_commit *c = NULL;
    git_tree_entry *e = NULL;
    const char *msg;

    *tree = NULL;
    *done = 0;
    if (!b->has_tip)
        return ERR_OK;
    if (git_commit_lookup(&c, b->repo, &b->tip) < 0 || git_commit_tree(tree, c) < 0) {
        git_commit_free(c);
        return git_fail(b, ERR_INTERNAL, errbuf, errlen, "read the branch's tip");
    }
    msg = git_commit_message(c);
    if (msg && strncmp(msg, b->p->message, strlen(b->p->message)) == 0 &&
        (msg[strlen(b->p->message)] == '\0' || msg[strlen(b->p->message)] == '\n') &&
        git_tree_entry_bypath(&e, *tree, b->p->path) == 0 &&
        git_oid_equal(git_tree_entry_id(e), blob))
        *done = 1;
    git_tree_entry_free(e);
    git_commit_free(c);
    return ERR_OK;
}

/* Blob, tree and commit on the tip; the local branch points at the commit. */
static enum err
commit_on_tip(struct pub *b, int *done, char *errbuf, size_t errlen)
{
    git_oid blob;
    git_oid tree_id;
    git_oid commit_id;
    git_tree *base = NULL;
    git_tree *tree = NULL;
    git_commit *parent = NULL;
    git_signature *sig = NULL;
    git_reference *ref = NULL;
    git_treebuilder *tb = NULL;
    git_tree_update upd;
    const git_commit *parents[1] = {NULL};
    enum err rc = ERR_OK;

    if (git_blob_create_from_buffer(&blob, b->repo, b->p->data, b->p->len) < 0)
        return git_fail(b, ERR_INTERNAL, errbuf, errlen, "write the blob");
    rc = tip_tree(b, &blob, &base, done, errbuf, errlen);
    if (rc || *done)
        goto out;
    if (!base &&
        (git_treebuilder_new(&tb, b->repo, NULL) < 0 || git_treebuilder_write(&tree_id, tb) < 0 ||
         git_tree_lookup(&base, b->repo, &tree_id) < 0)) {
        rc = git_fail(b, ERR_INTERNAL, errbuf, errlen, "make an empty tree");
        goto out;
    }
    memset(&upd, 0, sizeof(upd));
    upd.action = GIT_TREE_UPDATE_UPSERT;
    git_oid_cpy(&upd.id, &blob);
    upd.filemode = GIT_FILEMODE_BLOB;
    upd.path = b->p->path;
    if (b->has_tip && git_commit_lookup(&parent, b->repo, &b->tip) < 0) {
        rc = git_fail(b, ERR_INTERNAL, errbuf, errlen, "read the branch's tip");
        goto out;
    }
    parents[0] = parent;
    if (git_tree_create_updated(&tree_id, b->repo, base, 1, &upd) < 0 ||
        git_tree_lookup(&tree, b->repo, &tree_id) < 0 ||
        git_signature_now(&sig, "ingestd", "ingestd@localhost") < 0 ||
        git_commit_create(&commit_id, b->repo, NULL, sig, sig, NULL, b->p->message, tree,
                          parent ? 1 : 0, parents) < 0 ||
        git_reference_create(&ref, b->repo, b->branch, &commit_id, 1, "ingestd export") < 0)
        rc = git_fail(b, ERR_INTERNAL, errbuf, errlen, "commit");
out:
    git_reference_free(ref);
    git_commit_free(parent);
    git_signature_free(sig);
    git_tree_free(tree);
    git_tree_free(base);
    git_treebuilder_free(tb);
    return rc;
}

/* Push the local branch; *rejected when the remote refused it (it moved). */
static enum err
push(struct pub *b, int *rejected, char *errbuf, size_t errlen)
{
    git_push_options po;
    char spec[600];
    char *specs[1] = {spec};
    git_strarray refspecs = {specs, 1};
    int e;

    git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
    snprintf(spec, sizeof(spec), "%s:%s", b->branch, b->branch);
    memset(&b->auth, 0, sizeof(b->auth));
    b->auth.p = b->p;
    b->rejected = 0;
    po.callbacks = b->cbs;
    e = git_remote_push(b->remote, &refspecs, &po);
    if (e == GIT_ENONFASTFORWARD)
        snprintf(b->rejection, sizeof(b->rejection), "non-fast-forward");
    *rejected = b->rejected || e == GIT_ENONFASTFORWARD;
    if (e < 0 && !*rejected)
        return git_fail(b, ERR_UNAVAILABLE, errbuf, errlen, "push");
    return ERR_OK;
}

static enum err
open_repo(struct pub *b, char *errbuf, size_t errlen)
{
    git_remote_create_options ro;

    if (git_repository_open_bare(&b->repo, b->p->workdir) < 0 &&
        git_repository_init(&b->repo, b->p->workdir, 1) < 0)
        return git_fail(b, ERR_INTERNAL, errbuf, errlen, "local repository");
    /* anonymous, and without url.*.insteadOf rewriting: libgit2 1.5 leaks a
     * PCRE2 match block for every configuration entry that rewrite looks at */
    git_remote_create_options_init(&ro, GIT_REMOTE_CREATE_OPTIONS_VERSION);
    ro.repository = b->repo;
    ro.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
    if (git_remote_create_with_opts(&b->remote, b->p->remote_url, &ro) < 0)
        return git_fail(b, ERR_BAD_INPUT, errbuf, errlen, "remote");
    git_remote_init_callbacks(&b->cbs, GIT_REMOTE_CALLBACKS_VERSION);
    b->cbs.credentials = cred_cb;
    b->cbs.push_update_reference = push_ref_cb;
    b->cbs.payload = b; /* both callbacks */
    return ERR_OK;
}

void
git_client_init(void)
{
    git_libgit2_init();
}

void
git_client_cleanup(void)
{
    git_libgit2_shutdown();
}

enum err
git_client_publish(const struct git_publish *p, int *pushed, char *errbuf, size_t errlen)
{
    struct pub b;
    int tries;
    int rejected = 1;
    int done = 0;
    enum err rc;

    if (pushed)
        *pushed = 0;
    memset(&b, 0, sizeof(b));
    b.p = p;
    git_libgit2_init();
    rc = open_repo(&b, errbuf, errlen);
    for (tries = 0; !rc && rejected && tries < GIT_CLIENT_PUSH_TRIES; tries++) {
        rc = fetch_tip(&b, errbuf, errlen);
        if (!rc)
            rc = commit_on_tip(&b, &done, errbuf, errlen);
        if (rc || done)
            break;
        rc = push(&b, &rejected, errbuf, errlen);
        if (!rc && !rejected && pushed)
            *pushed = 1;
    }
    if (!rc && !done && rejected)
        rc = err_set(ERR_UNAVAILABLE, errbuf, errlen, "git %s: push rejected %d times, last: %s",
                     p->name, GIT_CLIENT_PUSH_TRIES, b.rejection);
    git_remote_free(b.remote);
    git_repository_free(b.repo);
    git_libgit2_shutdown();
    return rc;
}
