/*
 * fuzz-main.c — replay driver for the fuzz targets, so each runs as an ordinary test.
 *
 * Usage: fuzz-<thing> CORPUS_DIR [ITERATIONS]
 * Feeds every file in CORPUS_DIR to LLVMFuzzerTestOneInput, then ITERATIONS (default
 * 20000) deterministic mutations of them (byte flips, truncations, splices, inserted
 * interesting bytes) from a fixed seed, so a run is repeatable. Built with
 * -fsanitize=fuzzer instead (libFuzzer provides main), this file is left out.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUTS 512
#define MAX_SIZE (64 * 1024)

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static size_t mutate(uint8_t *buf, size_t len, size_t cap, uint8_t *const *inputs,
                     const size_t *sizes, int n)
{
    static const uint8_t interesting[] = {0,   '"', '\\', '{', '}', '[',  ']',  ':',  ',',  '\n',
                                          ' ', '-', '0',  '9', 'e', 0xff, 0xc3, 0x80, '\'', '('};
    int rounds = 1 + (int)(rng() % 4);
    for (int r = 0; r < rounds; r++) {
        switch (rng() % 5) {
        case 0: /* flip a byte */
            if (len)
                buf[rng() % len] ^= (uint8_t)(1u << (rng() % 8));
            break;
        case 1: /* truncate */
            if (len)
                len = rng() % len;
            break;
        case 2: /* insert an interesting byte */
            if (len < cap) {
                size_t at = len ? rng() % (len + 1) : 0;
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = interesting[rng() % sizeof interesting];
                len++;
            }
            break;
        case 3: /* splice a piece of another input */
            if (n > 0) {
                int j = (int)(rng() % (uint64_t)n);
                if (sizes[j]) {
                    size_t from = rng() % sizes[j];
                    size_t take = 1 + rng() % (sizes[j] - from);
                    size_t at = len ? rng() % (len + 1) : 0;
                    if (take > cap - len)
                        take = cap - len;
                    memmove(buf + at + take, buf + at, len - at);
                    memcpy(buf + at, inputs[j] + from, take);
                    len += take;
                }
            }
            break;
        default: /* delete a byte */
            if (len) {
                size_t at = rng() % len;
                memmove(buf + at, buf + at + 1, len - at - 1);
                len--;
            }
        }
    }
    return len;
}

int main(int argc, char **argv)
{
    uint8_t *inputs[MAX_INPUTS];
    size_t sizes[MAX_INPUTS];
    int n = 0;
    long iterations = argc > 2 ? strtol(argv[2], NULL, 10) : 20000;
    DIR *dir;
    struct dirent *de;
    uint8_t *buf;

    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR [ITERATIONS]\n", argv[0]);
        return 2;
    }
    dir = opendir(argv[1]);
    if (!dir) {
        fprintf(stderr, "%s: cannot open corpus directory %s\n", argv[0], argv[1]);
        return 2;
    }
    while ((de = readdir(dir)) != NULL && n < MAX_INPUTS) {
        char path[4096];
        FILE *f;
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", argv[1], de->d_name);
        f = fopen(path, "rb");
        if (!f)
            continue;
        inputs[n] = malloc(MAX_SIZE);
        sizes[n] = fread(inputs[n], 1, MAX_SIZE, f);
        fclose(f);
        n++;
    }
    closedir(dir);
    if (n == 0) {
        fprintf(stderr, "%s: corpus %s is empty\n", argv[0], argv[1]);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        /* exact-size copies so ASan sees reads past the end */
        uint8_t *copy = malloc(sizes[i] ? sizes[i] : 1);
        memcpy(copy, inputs[i], sizes[i]);
        LLVMFuzzerTestOneInput(copy, sizes[i]);
        free(copy);
    }
    buf = malloc(MAX_SIZE);
    for (long it = 0; it < iterations; it++) {
        int j = (int)(rng() % (uint64_t)n);
        size_t len;
        uint8_t *exact;
        memcpy(buf, inputs[j], sizes[j]);
        len = mutate(buf, sizes[j], MAX_SIZE, inputs, sizes, n);
        exact = malloc(len ? len : 1);
        memcpy(exact, buf, len);
        LLVMFuzzerTestOneInput(exact, len);
        free(exact);
    }
    free(buf);
    for (int i = 0; i < n; i++)
        free(inputs[i]);
    printf("%s: %d corpus inputs, %ld mutations, no crash\n", argv[0], n, iterations);
    return 0;
}
