/* curl_lazy.c: see curl_lazy.h for why libcurl is opened at run time. */
#include "curl_lazy.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static ag_curl_api api;
static const ag_curl_api *loaded;
static char load_error[512];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
    /* the soname of Debian's libcurl4 (OpenSSL) and libcurl3-gnutls */
    static const char *const names[] = {"libcurl.so.4", "libcurl-gnutls.so.4"};
    void *h = NULL;
    for (size_t i = 0; !h && i < sizeof(names) / sizeof(names[0]); i++) h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(load_error, sizeof(load_error), "cannot load libcurl (%s); install it: apt-get install libcurl4",
                 e ? e : "libcurl.so.4 not found");
        return;
    }
    struct {
        const char *name;
        void **slot;
    } syms[] = {
        {"curl_global_init", (void **)&api.global_init},
        {"curl_global_cleanup", (void **)&api.global_cleanup},
        {"curl_easy_init", (void **)&api.easy_init},
        {"curl_easy_setopt", (void **)&api.easy_setopt},
        {"curl_easy_perform", (void **)&api.easy_perform},
        {"curl_easy_cleanup", (void **)&api.easy_cleanup},
        {"curl_easy_strerror", (void **)&api.easy_strerror},
        {"curl_slist_append", (void **)&api.slist_append},
        {"curl_slist_free_all", (void **)&api.slist_free_all},
    };
    for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
        void *f = dlsym(h, syms[i].name);
        if (!f) {
            snprintf(load_error, sizeof(load_error), "libcurl has no '%s': too old a libcurl", syms[i].name);
            dlclose(h);
            return;
        }
        memcpy(syms[i].slot, &f, sizeof(f)); /* object to function pointer, as POSIX allows */
    }
    loaded = &api;
}

const ag_curl_api *ag_curl_load(char *why, size_t why_cap)
{
    pthread_once(&once, load);
    if (!loaded && why && why_cap) snprintf(why, why_cap, "%s", load_error);
    return loaded;
}
