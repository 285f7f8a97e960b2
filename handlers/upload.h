/*
 * upload.h - decoding an uploaded CSV body (events and PUT repos.csv)
 */
#ifndef INGESTD_UPLOAD_H
#define INGESTD_UPLOAD_H

#include "handlers/request.h"

struct repos_csv;

/*
 * Parse req->body as a repos CSV with the configured limits. On failure the
 * 400 problem (with every problem and its line in `errors`) is already in
 * res and NULL is returned.
 */
struct repos_csv *upload_parse(const struct request *req, struct response *res);

#endif
