/*
 * value.c — type names, value equality and schema helpers.
 */
#include "value.h"

#include <stdlib.h>
#include <string.h>

const char *wr_type_name(wr_type t)
{
    switch (t) {
    case WR_T_NULL:
        return "null";
    case WR_T_BOOL:
        return "bool";
    case WR_T_LONG:
        return "long";
    case WR_T_DOUBLE:
        return "double";
    case WR_T_STRING:
        return "string";
    case WR_T_TIMESTAMP:
        return "timestamp_ms";
    }
    return "?";
}

bool wr_type_parse(const char *s, wr_type *out, bool *optional)
{
    static const struct {
        const char *name;
        wr_type type;
    } names[] = {
        {"string", WR_T_STRING},  {"long", WR_T_LONG},
        {"int", WR_T_LONG},       {"int64", WR_T_LONG},
        {"double", WR_T_DOUBLE},  {"float", WR_T_DOUBLE},
        {"float64", WR_T_DOUBLE}, {"bool", WR_T_BOOL},
        {"boolean", WR_T_BOOL},   {"timestamp_ms", WR_T_TIMESTAMP},
    };
    size_t len = strlen(s);
    bool opt = false;

    if (len > 0 && s[len - 1] == '?') {
        opt = true;
        len--;
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strlen(names[i].name) == len && memcmp(names[i].name, s, len) == 0) {
            *out = names[i].type;
            if (optional)
                *optional = opt;
            return true;
        }
    }
    return false;
}

bool wr_value_equal(const wr_value *a, const wr_value *b)
{
    if (a->type != b->type)
        return false;
    switch ((wr_type)a->type) {
    case WR_T_NULL:
        return true;
    case WR_T_DOUBLE:
        return a->u.d == b->u.d;
    case WR_T_STRING:
        return a->len == b->len && (a->len == 0 || memcmp(a->u.s, b->u.s, a->len) == 0);
    default:
        return a->u.i == b->u.i;
    }
}

bool wr_schema_add(wr_schema *s, const char *name, wr_type type, bool optional)
{
    wr_field *f = realloc(s->fields, sizeof *f * (size_t)(s->nfields + 1));
    char *n;

    if (!f)
        return false;
    s->fields = f;
    n = strdup(name);
    if (!n)
        return false;
    f[s->nfields].name = n;
    f[s->nfields].type = type;
    f[s->nfields].optional = optional;
    s->nfields++;
    return true;
}

int wr_schema_find(const wr_schema *s, const char *name, size_t len)
{
    for (int i = 0; i < s->nfields; i++) {
        if (strlen(s->fields[i].name) == len && memcmp(s->fields[i].name, name, len) == 0)
            return i;
    }
    return -1;
}

bool wr_schema_copy(wr_schema *dst, const wr_schema *src)
{
    wr_schema tmp = {0};

    for (int i = 0; i < src->nfields; i++) {
        if (!wr_schema_add(&tmp, src->fields[i].name, src->fields[i].type,
                           src->fields[i].optional)) {
            wr_schema_fini(&tmp);
            return false;
        }
    }
    *dst = tmp;
    return true;
}

void wr_schema_fini(wr_schema *s)
{
    for (int i = 0; i < s->nfields; i++)
        free(s->fields[i].name);
    free(s->fields);
    s->fields = NULL;
    s->nfields = 0;
}
