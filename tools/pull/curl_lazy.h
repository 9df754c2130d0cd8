/* curl_lazy.h: libcurl, loaded with dlopen when a pull actually runs.
 *
 * Linking libcurl into airgap maps it and ~30 libraries it needs (TLS,
 * HTTP/2, SSH, LDAP, Kerberos, ...) into every run: 6 MiB of resident memory
 * for a chat that never touches the network, where the memory plan is
 * counted in single MiB. So fetch.c calls libcurl through this table, filled
 * on the first pull from the runtime library Debian ships (libcurl4, the
 * package libcurl4-openssl-dev depends on). The headers still come from the
 * -dev package at build time, so types and option numbers are checked. */
#ifndef AG_CURL_LAZY_H
#define AG_CURL_LAZY_H

#include <curl/curl.h>

typedef struct ag_curl_api {
    CURLcode (*global_init)(long flags);
    void (*global_cleanup)(void);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *c, CURLoption opt, ...);
    CURLcode (*easy_perform)(CURL *c);
    void (*easy_cleanup)(CURL *c);
    const char *(*easy_strerror)(CURLcode r);
    struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
    void (*slist_free_all)(struct curl_slist *l);
} ag_curl_api;

/* The loaded library, or NULL with the reason (one line, naming the
 * library and the package to install) in why. Loads once. */
const ag_curl_api *ag_curl_load(char *why, size_t why_cap);

#endif
