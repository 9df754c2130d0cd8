/* test_pull_cli.c: `airgap pull`, the cache and the first run, end to end.
 *
 * Serves synthetic models from tests/pull/hf_server.py (a local Hugging Face
 * emulator) with HF_ENDPOINT pointing at it and AIRGAP_MODELS at a fresh
 * cache, then drives the built `airgap` as a user would: the first-run chat
 * with no -m pulls the default model (and --offline refuses clearly before),
 * a pull resumes after the connection is cut mid-file, a corrupt file is
 * refused, pulled models run with the server gone (--offline, unreachable
 * endpoint), and list / rm / -m NAME work. */
#include "harness.h"
#include "shell.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    const char *cli = AG_CLI;
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/pull_cli_%d", AG_BUILD_DIR, (int)getpid());
    int rc = sh("rm -rf %s && mkdir -p %s/srv/unsloth/Qwen3.5-0.8B-GGUF %s/srv/test/drop-GGUF %s/srv/test/corrupt-GGUF "
                "%s/cache", dir, dir, dir, dir, dir);
    CHECK(rc == 0, "mkdir");
    /* the repos: the default model's repo (a tiny synthetic model under the
     * real file name), one whose first download is cut, one corrupt */
    rc = sh("%s synth --preset tiny --seed 3 -o %s/srv/unsloth/Qwen3.5-0.8B-GGUF/Qwen3.5-0.8B-Q4_K_M.gguf 2>&1 && "
            "%s synth --preset tiny --seed 4 --type q8_0 -o %s/srv/unsloth/Qwen3.5-0.8B-GGUF/Qwen3.5-0.8B-Q8_0.gguf 2>&1 && "
            "%s synth --preset tiny --seed 5 -o %s/srv/test/drop-GGUF/M-Q4_K_M.gguf 2>&1 && "
            "cp %s/srv/test/drop-GGUF/M-Q4_K_M.gguf %s/srv/test/drop-GGUF/M-Q8_0.gguf && "
            "%s synth --preset tiny --seed 6 -o %s/srv/test/corrupt-GGUF/M-Q4_K_M.gguf 2>&1",
            cli, dir, cli, dir, cli, dir, dir, dir, cli, dir);
    CHECK(rc == 0, "synth repos: %s", out_buf);

    /* start the emulator; it prints its port first */
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), "exec python3 %s/tests/pull/hf_server.py --dir %s/srv --port 0 --log %s/server.log",
             AG_SOURCE_DIR, dir, dir);
    FILE *srv = popen(cmd, "r");
    int port = 0;
    CHECK(srv && fscanf(srv, "%d", &port) == 1 && port > 0, "server did not start");
    if (!port) return REPORT();
    snprintf(sh_prefix, sizeof(sh_prefix), "export HF_ENDPOINT=http://127.0.0.1:%d AIRGAP_MODELS=%s/cache; unset AIRGAP_OFFLINE HF_TOKEN;",
             port, dir);

    /* first run, offline: one clear line naming what to pull */
    rc = sh("%s chat --offline </dev/null 2>&1", cli);
    CHECK(rc == 1 && count_lines(out_buf) == 1 && strstr(out_buf, "airgap pull qwen3.5-0.8b"), "offline first run: rc %d '%s'",
          rc, out_buf);
    rc = sh("export AIRGAP_OFFLINE=1; %s run -p hi 2>&1", cli);
    CHECK(rc == 1 && strstr(out_buf, "airgap pull"), "AIRGAP_OFFLINE=1: rc %d '%s'", rc, out_buf);

    /* first run online: chat with no arguments pulls the default model */
    rc = sh("printf 'hello\\n' | %s chat -n 4 --seed 1 2>&1 >/dev/null", cli);
    CHECK(rc == 0 && strstr(out_buf, "Qwen3.5-0.8B-Q4_K_M.gguf") && strstr(out_buf, "prompt"),
          "first-run chat: rc %d '%s'", rc, out_buf);
    rc = sh("cmp %s/srv/unsloth/Qwen3.5-0.8B-GGUF/Qwen3.5-0.8B-Q4_K_M.gguf "
            "%s/cache/unsloth--Qwen3.5-0.8B-GGUF/Qwen3.5-0.8B-Q4_K_M.gguf", dir, dir);
    CHECK(rc == 0, "default model bytes differ");

    /* a pull whose connection is cut mid-file resumes and gets the right file */
    rc = sh("%s pull test/drop-GGUF:q4_k_m 2>&1", cli);
    CHECK(rc == 0, "pull with a dropped connection: rc %d '%s'", rc, out_buf);
    rc = sh("cmp %s/srv/test/drop-GGUF/M-Q4_K_M.gguf %s/cache/test--drop-GGUF/M-Q4_K_M.gguf", dir, dir);
    CHECK(rc == 0, "resumed file differs");
    rc = sh("grep -c 'range=bytes=[1-9]' %s/server.log", dir);
    CHECK(rc == 0 && atoi(out_buf) >= 1, "no resuming Range request in the server log");

    /* corrupt bytes are refused; nothing is left under the final name */
    rc = sh("%s pull test/corrupt-GGUF:Q4_K_M 2>&1", cli);
    CHECK(rc == 1 && strstr(out_buf, "sha256"), "corrupt pull: rc %d '%s'", rc, out_buf);
    struct stat stt;
    char path[2048];
    snprintf(path, sizeof(path), "%s/cache/test--corrupt-GGUF/M-Q4_K_M.gguf", dir);
    CHECK(stat(path, &stt) != 0, "a corrupt file is in the cache");

    /* unknown repo: clear error */
    rc = sh("%s pull test/nothing-here-GGUF:Q4_K_M 2>&1", cli);
    CHECK(rc == 1 && count_lines(out_buf) >= 1 && strstr(out_buf, "test/nothing-here-GGUF"), "404: rc %d '%s'", rc, out_buf);

    /* the network goes away: pulled models still run, by name */
    sh("pkill -f 'hf_server.py --dir %s/srv' ; true", dir);
    pclose(srv);
    rc = sh("%s run -m test/drop-GGUF:Q4_K_M --offline -p hi -n 4 --seed 1 2>&1 >/dev/null", cli);
    CHECK(rc == 0, "offline run by REPO:QUANT: rc %d '%s'", rc, out_buf);
    rc = sh("export HF_ENDPOINT=http://127.0.0.1:1; %s run -p hi -n 4 --seed 1 2>&1 >/dev/null", cli);
    CHECK(rc == 0, "default model with the endpoint unreachable: rc %d '%s'", rc, out_buf);
    rc = sh("%s info -m qwen3.5-0.8b", cli);
    CHECK(rc == 0 && strstr(out_buf, "qwen35"), "info -m short name: rc %d", rc);
    rc = sh("%s tokenize -m M-Q4_K_M.gguf --ids-only hi", cli);
    CHECK(rc == 0, "tokenize -m bare cached file name: rc %d", rc);

    /* list and rm */
    rc = sh("%s list", cli);
    CHECK(rc == 0 && strstr(out_buf, "Qwen3.5-0.8B-Q4_K_M.gguf") && strstr(out_buf, "M-Q4_K_M.gguf"), "list: '%s'", out_buf);
    rc = sh("%s rm test/drop-GGUF:Q4_K_M 2>&1", cli);
    CHECK(rc == 0, "rm: rc %d '%s'", rc, out_buf);
    rc = sh("%s list", cli);
    CHECK(rc == 0 && !strstr(out_buf, "M-Q4_K_M.gguf\n") && !strstr(out_buf, "test/drop-GGUF"), "list after rm: '%s'",
          out_buf);
    rc = sh("%s run -m test/drop-GGUF:Q4_K_M --offline -p hi 2>&1", cli);
    CHECK(rc == 1 && count_lines(out_buf) == 1, "run after rm: rc %d '%s'", rc, out_buf);

    sh_prefix[0] = 0;
    sh("rm -rf %s", dir);
    return REPORT();
}
