/*
 * git_client.h - publish one file to a Git repository (libgit2)
 *
 * git_client_publish() makes the remote's default branch hold `data` at
 * `path` in a new commit with `message`, on top of whatever the branch
 * holds, and pushes it (never forced). A push the remote rejects because
 * the branch moved meanwhile (non-fast-forward) is answered by fetching
 * again and committing on the new tip, up to GIT_CLIENT_PUSH_TRIES times.
 * An empty remote (no branch yet) gets the branch "main".
 *
 * No working tree: a local bare repository in `workdir` (made when missing,
 * kept between calls so a fetch only brings what is new) holds the objects;
 * the commit is written from a tree updated in memory. The remote URL,
 * which may hold credentials, is never written to that repository's
 * configuration (an anonymous remote is used) nor into a message: messages
 * name the target by `name`.
 *
 * Authentication: ssh remotes (git@host:org/repo.git, ssh://) use
 * `ssh_key` (a private key file; GIT_SSH_KEY), else ssh-agent when
 * `ssh_agent` is set, else `home`/.ssh/id_ed25519, id_ecdsa, id_rsa, each
 * tried once; host keys are checked against ~/.ssh/known_hosts by libgit2.
 * http(s) remotes use the URL's userinfo, else the entry of `credentials`
 * (GIT_CREDENTIALS: https://user:token@host, several separated by newlines
 * or commas, as git's credential store keeps them) whose host matches.
 * file:// remotes and local paths need none.
 *
 * Errors: ERR_UNAVAILABLE (the remote could not be reached, refused the
 * credentials, or kept rejecting the push), ERR_INTERNAL (the local
 * repository could not be made or written). Thread-safe for distinct
 * workdirs: each publication uses its own libgit2 objects.
 */
#ifndef INGESTD_GIT_CLIENT_H
#define INGESTD_GIT_CLIENT_H

#include <stddef.h>

#include "core/err.h"

#define GIT_CLIENT_PUSH_TRIES 5

struct git_publish {
    const char *workdir;     /* local bare repository kept between calls */
    const char *remote_url;  /* may hold credentials: never logged */
    const char *name;        /* what messages call the target */
    const char *path;        /* the file's path in the repository, relative */
    const void *data;        /* the file's bytes (borrowed) */
    size_t len;              /* their length */
    const char *message;     /* the commit message */
    const char *ssh_key;     /* private key file, or NULL */
    const char *credentials; /* GIT_CREDENTIALS, or NULL */
    const char *home;        /* HOME (keys in HOME/.ssh), or NULL */
    const char *ssh_agent;   /* SSH_AUTH_SOCK, or NULL: no agent */
};

/*
 * The user and password GIT_CREDENTIALS gives for url's host: the first
 * entry (entries separated by commas or line ends, blanks around them
 * ignored; each https://user:password@host[:port][/...], the password may
 * hold '@') whose host equals url's, case-insensitively. Returns 1 and fills
 * user and pass (cut to their sizes), or 0 when no entry matches.
 */
int git_client_userpass_for(const char *credentials, const char *url, char *user, size_t ulen,
                            char *pass, size_t plen);

/*
 * libgit2's global state, held from git_client_init() to git_client_cleanup():
 * call init before the threads that publish start and cleanup after they
 * were joined (libgit2 frees a thread's error state when the thread ends
 * only while its global state lives). Counted: calls nest.
 */
void git_client_init(void);
void git_client_cleanup(void);

/*
 * Publish p (see above). When the branch's tip already is a commit with
 * p->message whose file at p->path holds exactly p->data (a publication
 * that was pushed but not recorded), nothing is pushed and ERR_OK returned.
 * *pushed (when not NULL) is 1 when a commit was pushed.
 */
enum err git_client_publish(const struct git_publish *p, int *pushed, char *errbuf, size_t errlen);

#endif
