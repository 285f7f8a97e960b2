/*
 * replay_main.c - run a libFuzzer target over files, without libFuzzer
 *
 * Linked with one tests/fuzz/fuzz_<name>.c into replay_<name> (ctest
 * fuzz/replay_<name>): every file named on the command line, or found
 * directly inside a directory named there, is passed to
 * LLVMFuzzerTestOneInput once whole and once as each of its prefixes up to
 * 4 KiB (a truncated input is the commonest malformed one). Under the
 * ASan+UBSan build this is the bounded CI replay of the committed corpora and
 * of every finding kept there; tests/fuzz/run.sh is the fuzzing campaign.
 */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PREFIXES_UP_TO 4096

static long runs;

static int
replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data = NULL;
    long n;
    size_t k;

    if (!f) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    data = malloc(n > 0 ? (size_t)n : 1);
    if (!data || (n > 0 && fread(data, 1, (size_t)n, f) != (size_t)n)) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        fclose(f);
        free(data);
        return 1;
    }
    fclose(f);
    for (k = 0; k < (size_t)n && k < PREFIXES_UP_TO; k++) {
        uint8_t *copy = malloc(k ? k : 1); /* exact size: ASan sees overreads */

        memcpy(copy, data, k);
        LLVMFuzzerTestOneInput(copy, k);
        free(copy);
        runs++;
    }
    LLVMFuzzerTestOneInput(data, (size_t)n);
    runs++;
    free(data);
    return 0;
}

static int
replay_path(const char *path)
{
    struct stat st;
    struct dirent *e;
    DIR *d;
    int bad = 0;

    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: no such file or directory %s\n", path);
        return 1;
    }
    if (!S_ISDIR(st.st_mode))
        return replay_file(path);
    d = opendir(path);
    if (!d)
        return 1;
    while ((e = readdir(d)) != NULL) {
        char child[4096];

        if (e->d_name[0] == '.')
            continue;
        snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
        if (stat(child, &st) == 0 && S_ISREG(st.st_mode))
            bad |= replay_file(child);
    }
    closedir(d);
    return bad;
}

int
main(int argc, char **argv)
{
    int bad = 0;
    int i;

    for (i = 1; i < argc; i++)
        bad |= replay_path(argv[i]);
    printf("replayed %ld inputs\n", runs);
    return bad || runs == 0;
}
