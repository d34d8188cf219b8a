/*
 * expr.c — compiler and evaluator for `filter` and `map` expressions.
 *
 * wr_expr_compile() runs once per expression, when the job spec is loaded:
 *   1. a hand-written lexer and recursive-descent parser build a small tree (nodes in
 *      one growable array, linked by index), type-checking each node as it is made and
 *      reporting the first error with its 1-based column;
 *   2. every maximal subtree that reads no field is evaluated once and replaced by its
 *      value (constant folding); a subtree whose evaluation fails (1 / 0) is left alone so
 *      the error still happens at run time, and only if that branch is reached;
 *   3. the tree is flattened into a postfix program of fixed-size instructions. Type
 *      promotions are explicit instructions and every operator is specialised to its
 *      operand types, so the evaluator never looks at static types.
 * The tree is freed; the wr_expr keeps only the program and the strings of its literals.
 *
 * wr_expr_eval() is one loop over the program with a value stack on the C stack. The
 * compiler proves how deep that stack gets and refuses expressions that need more than
 * EXPR_MAX_STACK slots, so evaluation never allocates and never checks bounds.
 * Strings made during evaluation (lower, upper, concat, to_string) go into the caller's
 * scratch arena. A compiled wr_expr is never written after compile, so threads may share it.
 */
#include "expr.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parentheses, calls and unary operators nested in each other, and the height of the
 * tree (a chain `a || b || c` is one level per operator), are both limited to this, so
 * the compiler's recursion is bounded whatever the input. */
#define EXPR_MAX_DEPTH 128
/* Value-stack slots an evaluation may need (16 bytes each, on the C stack). */
#define EXPR_MAX_STACK 128
/* Scratch space used to fold constant subtrees at compile time. */
#define FOLD_SCRATCH (64 * 1024)
/* Longest text of a non-string value: a timestamp with a 9-digit year, or a %.17g double. */
#define TEXT_MAX 48

/* ---- tokens ---------------------------------------------------------------------- */

enum tok {
    TK_EOF,
    TK_INT,
    TK_DOUBLE,
    TK_STRING,
    TK_IDENT,
    TK_QFIELD, /* `backquoted field` */
    TK_LP,
    TK_RP,
    TK_COMMA,
    TK_OR,
    TK_AND,
    TK_EQ,
    TK_NE,
    TK_LT,
    TK_LE,
    TK_GT,
    TK_GE,
    TK_PLUS,
    TK_MINUS,
    TK_STAR,
    TK_SLASH,
    TK_PCT,
    TK_BANG,
};

typedef struct token {
    enum tok kind;
    size_t col;    /* 1-based */
    const char *p; /* source text of the token */
    size_t len;
} token;

static const char *tok_op_text(enum tok k)
{
    switch (k) {
    case TK_OR:
        return "||";
    case TK_AND:
        return "&&";
    case TK_EQ:
        return "==";
    case TK_NE:
        return "!=";
    case TK_LT:
        return "<";
    case TK_LE:
        return "<=";
    case TK_GT:
        return ">";
    case TK_GE:
        return ">=";
    case TK_PLUS:
        return "+";
    case TK_MINUS:
        return "-";
    case TK_STAR:
        return "*";
    case TK_SLASH:
        return "/";
    case TK_PCT:
        return "%";
    case TK_BANG:
        return "!";
    default:
        return "?";
    }
}

static bool tok_is_cmp(enum tok k)
{
    return k == TK_EQ || k == TK_NE || k == TK_LT || k == TK_LE || k == TK_GT || k == TK_GE;
}

/* ---- functions ------------------------------------------------------------------- */

enum fn {
    F_LOWER,
    F_UPPER,
    F_LENGTH,
    F_CONCAT,
    F_COALESCE,
    F_ABS,
    F_STARTS_WITH,
    F_ENDS_WITH,
    F_CONTAINS,
    F_IF,
    F_IS_NULL,
    F_TO_STRING,
    F_TO_LONG,
    F_TO_DOUBLE,
};

static const struct fn_info {
    const char *name;
    enum fn id;
    int min, max; /* max < 0: variadic */
} functions[] = {
    {"lower", F_LOWER, 1, 1},
    {"upper", F_UPPER, 1, 1},
    {"length", F_LENGTH, 1, 1},
    {"concat", F_CONCAT, 1, -1},
    {"coalesce", F_COALESCE, 1, -1},
    {"abs", F_ABS, 1, 1},
    {"starts_with", F_STARTS_WITH, 2, 2},
    {"ends_with", F_ENDS_WITH, 2, 2},
    {"contains", F_CONTAINS, 2, 2},
    {"if", F_IF, 3, 3},
    {"is_null", F_IS_NULL, 1, 1},
    {"to_string", F_TO_STRING, 1, 1},
    {"to_long", F_TO_LONG, 1, 1},
    {"to_double", F_TO_DOUBLE, 1, 1},
};
#define NFUNCTIONS (sizeof functions / sizeof functions[0])

/* ---- the program ----------------------------------------------------------------- */

enum op {
    OP_PUSH, /* k */
    OP_LOAD, /* row[arg], checked against type (and OPTIONAL) */
    OP_POP,
    OP_L2D, /* long → double, in place */
    OP_NEG_L,
    OP_NEG_D,
    OP_NOT,
    OP_ADD_L, /* long arithmetic; the result has `type` (long or timestamp) */
    OP_SUB_L,
    OP_MUL_L,
    OP_DIV_L,
    OP_MOD_L,
    OP_ADD_D,
    OP_SUB_D,
    OP_MUL_D,
    OP_DIV_D,
    OP_MOD_D,
    OP_CMP_I, /* compare u.i (long, timestamp, bool); arg is the TK_ comparison */
    OP_CMP_D,
    OP_CMP_S,
    OP_JF_KEEP,  /* top is false: jump to arg, keep it */
    OP_JT_KEEP,  /* top is true: jump to arg, keep it */
    OP_JNN_KEEP, /* top is not null: jump to arg, keep it */
    OP_JNT_POP,  /* pop; unless it was true, jump to arg */
    OP_JMP,
    OP_AND, /* second half of three-valued && (left was true or null) */
    OP_OR,  /* second half of three-valued || (left was false or null) */
    OP_IS_NULL,
    OP_LOWER,
    OP_UPPER,
    OP_LENGTH,
    OP_CONCAT, /* nargs values */
    OP_ABS_L,
    OP_ABS_D,
    OP_STARTS,
    OP_ENDS,
    OP_CONTAINS,
    OP_TO_STRING, /* from `type` */
    OP_TO_LONG,
    OP_TO_DOUBLE,
};

#define INS_STRICT 1u   /* a null among the nargs popped values makes the result null */
#define INS_OPTIONAL 2u /* OP_LOAD: the field may be null */

typedef struct ins {
    uint8_t op;
    uint8_t type;  /* see enum op */
    uint8_t nargs; /* values popped, for INS_STRICT */
    uint8_t flags;
    int32_t arg;
    wr_value k;
} ins;

struct wr_expr {
    const wr_schema *in;
    wr_type type;
    bool nullable;
    ins *code;
    int ncode;
    char **strs; /* owned literal strings */
    int nstrs;
};

/* ---- the tree -------------------------------------------------------------------- */

enum kind { N_CONST, N_FIELD, N_NEG, N_NOT, N_BIN, N_AND, N_OR, N_CALL };

typedef struct node {
    enum kind kind;
    int op;       /* enum tok for N_BIN, enum fn for N_CALL */
    wr_type type; /* WR_T_NULL: always null, type unknown */
    bool nullable;
    bool constant; /* reads no field */
    size_t col;    /* where the node's text starts */
    size_t opcol;  /* its operator or function name */
    int kid;       /* first child or -1 */
    int next;      /* next sibling or -1 */
    int nkids;
    int height;
    int need; /* stack slots needed to evaluate it */
    int field;
    wr_value k;
} node;

typedef struct parser {
    const char *src;
    size_t pos; /* lexer position */
    token tok;  /* current token */
    const wr_schema *in;
    wr_expr *e;
    node *nodes;
    int nnodes, capnodes;
    int depth;
    wr_errbuf *eb;
    wr_err err;
} parser;

typedef struct emitter {
    ins *code;
    int n, cap;
} emitter;

static wr_err run(const ins *code, int n, const wr_schema *in, const wr_value *row,
                  wr_arena *scratch, wr_value *out, wr_errbuf *eb);

/* Records the first error; returns -1 so parse functions can `return fail(...)`. */
static int fail(parser *p, wr_err err, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(parser *p, wr_err err, size_t col, const char *fmt, ...)
{
    char msg[WR_ERRBUF_SIZE];
    va_list ap;

    if (p->err != WR_OK)
        return -1;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    wr_fail(p->eb, err, "column %zu: %s", col, msg);
    p->err = err;
    return -1;
}

static int fail_nomem(parser *p)
{
    return fail(p, WR_ENOMEM, p->tok.col, "out of memory compiling the expression");
}

/* Writes a printable, bounded rendering of s[0..len) into buf (for messages). */
static void printable(char *buf, size_t cap, const char *s, size_t len)
{
    size_t o = 0, max = cap - 4; /* room for "..." and NUL */

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o >= max || (o + 1 >= max && i + 1 < len)) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        buf[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    buf[o] = '\0';
}

static void describe_tok(const token *t, char *buf, size_t cap)
{
    char text[40];

    if (t->kind == TK_EOF) {
        snprintf(buf, cap, "end of input");
        return;
    }
    printable(text, sizeof text, t->p, t->len);
    snprintf(buf, cap, "'%s'", text);
}

/* ---- lexer ----------------------------------------------------------------------- */

static bool is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident_char(char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Makes the next token current. */
static void advance(parser *p)
{
    const char *s = p->src;
    size_t i = p->pos;
    token t;

    while (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')
        i++;
    t.col = i + 1;
    t.p = s + i;
    t.len = 1;
    switch (s[i]) {
    case '\0':
        t.kind = TK_EOF;
        t.len = 0;
        break;
    case '(':
        t.kind = TK_LP;
        break;
    case ')':
        t.kind = TK_RP;
        break;
    case ',':
        t.kind = TK_COMMA;
        break;
    case '+':
        t.kind = TK_PLUS;
        break;
    case '-':
        t.kind = TK_MINUS;
        break;
    case '*':
        t.kind = TK_STAR;
        break;
    case '/':
        t.kind = TK_SLASH;
        break;
    case '%':
        t.kind = TK_PCT;
        break;
    case '|':
        if (s[i + 1] != '|') {
            fail(p, WR_ESPEC, t.col, "unexpected '|'; use '||' for 'or'");
            return;
        }
        t.kind = TK_OR;
        t.len = 2;
        break;
    case '&':
        if (s[i + 1] != '&') {
            fail(p, WR_ESPEC, t.col, "unexpected '&'; use '&&' for 'and'");
            return;
        }
        t.kind = TK_AND;
        t.len = 2;
        break;
    case '=':
        if (s[i + 1] != '=') {
            fail(p, WR_ESPEC, t.col, "unexpected '='; use '==' to compare");
            return;
        }
        t.kind = TK_EQ;
        t.len = 2;
        break;
    case '!':
        t.kind = s[i + 1] == '=' ? TK_NE : TK_BANG;
        t.len = s[i + 1] == '=' ? 2 : 1;
        break;
    case '<':
        t.kind = s[i + 1] == '=' ? TK_LE : TK_LT;
        t.len = s[i + 1] == '=' ? 2 : 1;
        break;
    case '>':
        t.kind = s[i + 1] == '=' ? TK_GE : TK_GT;
        t.len = s[i + 1] == '=' ? 2 : 1;
        break;
    case '\'':
    case '"': {
        char q = s[i];
        size_t j = i + 1;
        while (s[j] != q) {
            if (s[j] == '\0') {
                fail(p, WR_ESPEC, t.col, "unterminated string");
                return;
            }
            if (s[j] == '\\' && s[j + 1] != '\0')
                j++;
            j++;
        }
        t.kind = TK_STRING;
        t.len = j + 1 - i;
        break;
    }
    case '`': {
        size_t j = i + 1;
        while (s[j] != '`') {
            if (s[j] == '\0') {
                fail(p, WR_ESPEC, t.col, "unterminated `quoted field name`");
                return;
            }
            j++;
        }
        if (j == i + 1) {
            fail(p, WR_ESPEC, t.col, "empty `quoted field name`");
            return;
        }
        t.kind = TK_QFIELD;
        t.len = j + 1 - i;
        break;
    }
    default:
        if (is_ident_start(s[i])) {
            size_t j = i;
            while (is_ident_char(s[j]))
                j++;
            t.kind = TK_IDENT;
            t.len = j - i;
        } else if (is_digit(s[i]) || (s[i] == '.' && is_digit(s[i + 1]))) {
            size_t j = i;
            bool dbl = false;
            while (is_digit(s[j]))
                j++;
            if (s[j] == '.') {
                dbl = true;
                j++;
                while (is_digit(s[j]))
                    j++;
            }
            if ((s[j] == 'e' || s[j] == 'E') &&
                (is_digit(s[j + 1]) ||
                 ((s[j + 1] == '+' || s[j + 1] == '-') && is_digit(s[j + 2])))) {
                dbl = true;
                j += 2;
                while (is_digit(s[j]))
                    j++;
            }
            if (is_ident_char(s[j]) || s[j] == '.') {
                char text[40];
                size_t k = j;
                while (is_ident_char(s[k]) || s[k] == '.')
                    k++;
                printable(text, sizeof text, s + i, k - i);
                fail(p, WR_ESPEC, t.col, "invalid number '%s'", text);
                return;
            }
            t.kind = dbl ? TK_DOUBLE : TK_INT;
            t.len = j - i;
        } else {
            unsigned char c = (unsigned char)s[i];
            if (c >= 0x20 && c < 0x7f)
                fail(p, WR_ESPEC, t.col, "unexpected character '%c'", c);
            else
                fail(p, WR_ESPEC, t.col, "unexpected byte 0x%02x", c);
            return;
        }
    }
    p->pos = i + t.len;
    p->tok = t;
}

/* ---- tree building and type checking --------------------------------------------- */

static int new_node(parser *p, enum kind kind, size_t col)
{
    node *n;

    if (p->nnodes == p->capnodes) {
        int ncap = p->capnodes ? p->capnodes * 2 : 32;
        node *nn = realloc(p->nodes, sizeof *nn * (size_t)ncap);
        if (!nn)
            return fail_nomem(p);
        p->nodes = nn;
        p->capnodes = ncap;
    }
    n = &p->nodes[p->nnodes];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->col = col;
    n->opcol = col;
    n->kid = -1;
    n->next = -1;
    n->field = -1;
    n->height = 1;
    n->need = 1;
    n->constant = true;
    return p->nnodes++;
}

static int kid_at(const parser *p, int n, int i)
{
    int k = p->nodes[n].kid;
    while (i-- > 0)
        k = p->nodes[k].next;
    return k;
}

/* Recomputes nullable from the children (after constant folding too). */
static void set_nullable(parser *p, int ni)
{
    node *n = &p->nodes[ni];
    bool any = false, all = true;

    if (n->kind == N_CONST) {
        n->nullable = n->k.type == WR_T_NULL;
        return;
    }
    if (n->kind == N_FIELD)
        return;
    for (int k = n->kid; k >= 0; k = p->nodes[k].next) {
        any |= p->nodes[k].nullable;
        all &= p->nodes[k].nullable;
    }
    n->nullable = any;
    if (n->kind == N_CALL) {
        if (n->op == F_IS_NULL)
            n->nullable = false;
        else if (n->op == F_COALESCE)
            n->nullable = all;
        else if (n->op == F_IF) /* a null condition chooses the else branch */
            n->nullable =
                p->nodes[kid_at(p, ni, 1)].nullable || p->nodes[kid_at(p, ni, 2)].nullable;
    }
    if (n->type == WR_T_NULL)
        n->nullable = true;
}

/* Fills in height, stack need, constness and nullability from the children, and
 * enforces the depth and stack limits. Returns ni, or -1. */
static int finish_node(parser *p, int ni)
{
    node *n = &p->nodes[ni];
    int i = 0, need = 1, height = 0;
    bool constant = true;

    for (int k = n->kid; k >= 0; k = p->nodes[k].next, i++) {
        const node *c = &p->nodes[k];
        int slot = i;
        if (n->kind == N_CALL && (n->op == F_IF || n->op == F_COALESCE))
            slot = 0; /* the condition / previous argument is popped first */
        if (slot + c->need > need)
            need = slot + c->need;
        if (c->height > height)
            height = c->height;
        constant &= c->constant;
    }
    n->need = need;
    n->height = height + 1;
    n->constant = constant && n->kind != N_FIELD;
    set_nullable(p, ni);
    if (n->height > EXPR_MAX_DEPTH)
        return fail(p, WR_ESPEC, n->opcol, "expression nested deeper than %d levels",
                    EXPR_MAX_DEPTH);
    if (n->need > EXPR_MAX_STACK)
        return fail(p, WR_ESPEC, n->opcol,
                    "expression too large: it needs more than %d evaluation slots", EXPR_MAX_STACK);
    return ni;
}

static bool is_num(wr_type t)
{
    return t == WR_T_LONG || t == WR_T_DOUBLE;
}

/* The common type of two branches or coalesce() arguments, or false if none. */
static bool unify(wr_type a, wr_type b, wr_type *out)
{
    if (a == WR_T_NULL || a == b) {
        *out = b;
        return true;
    }
    if (b == WR_T_NULL) {
        *out = a;
        return true;
    }
    if (is_num(a) && is_num(b)) {
        *out = WR_T_DOUBLE;
        return true;
    }
    return false;
}

static int binary_type(parser *p, int ni)
{
    node *n = &p->nodes[ni];
    const node *l = &p->nodes[n->kid], *r = &p->nodes[l->next];
    wr_type lt = l->type, rt = r->type;
    const char *op = tok_op_text((enum tok)n->op);

    switch (n->op) {
    case TK_AND:
    case TK_OR:
        if (lt != WR_T_BOOL && lt != WR_T_NULL)
            return fail(p, WR_ETYPE, l->col, "operands of '%s' must be bool, got %s", op,
                        wr_type_name(lt));
        if (rt != WR_T_BOOL && rt != WR_T_NULL)
            return fail(p, WR_ETYPE, r->col, "operands of '%s' must be bool, got %s", op,
                        wr_type_name(rt));
        n->type = WR_T_BOOL;
        return ni;
    case TK_EQ:
    case TK_NE:
    case TK_LT:
    case TK_LE:
    case TK_GT:
    case TK_GE:
        n->type = WR_T_BOOL;
        if (lt == WR_T_NULL || rt == WR_T_NULL || lt == rt || (is_num(lt) && is_num(rt)) ||
            (lt == WR_T_TIMESTAMP && rt == WR_T_LONG) ||
            (lt == WR_T_LONG && rt == WR_T_TIMESTAMP)) {
            if (lt == WR_T_BOOL && rt == WR_T_BOOL && n->op != TK_EQ && n->op != TK_NE)
                return fail(p, WR_ETYPE, n->opcol,
                            "bools can only be compared with '==' and '!=', not '%s'", op);
            return ni;
        }
        return fail(p, WR_ETYPE, n->opcol, "cannot compare %s with %s using '%s'", wr_type_name(lt),
                    wr_type_name(rt), op);
    default:
        break;
    }
    /* arithmetic: a null literal takes whichever type makes the operation valid */
    if (lt == WR_T_NULL && rt == WR_T_NULL) {
        n->type = WR_T_NULL;
        return ni;
    }
    if (lt == WR_T_TIMESTAMP || rt == WR_T_TIMESTAMP) {
        if (n->op == TK_PLUS &&
            (lt == WR_T_NULL || rt == WR_T_NULL || (lt == WR_T_TIMESTAMP && rt == WR_T_LONG) ||
             (lt == WR_T_LONG && rt == WR_T_TIMESTAMP))) {
            n->type = WR_T_TIMESTAMP;
            return ni;
        }
        if (n->op == TK_MINUS && lt == WR_T_TIMESTAMP && (rt == WR_T_LONG || rt == WR_T_NULL)) {
            n->type = WR_T_TIMESTAMP;
            return ni;
        }
        if (n->op == TK_MINUS && rt == WR_T_TIMESTAMP &&
            (lt == WR_T_TIMESTAMP || lt == WR_T_NULL)) {
            n->type = WR_T_LONG;
            return ni;
        }
    } else if ((is_num(lt) || lt == WR_T_NULL) && (is_num(rt) || rt == WR_T_NULL)) {
        n->type = (lt == WR_T_DOUBLE || rt == WR_T_DOUBLE) ? WR_T_DOUBLE : WR_T_LONG;
        return ni;
    }
    if (n->op == TK_PLUS && (lt == WR_T_STRING || rt == WR_T_STRING))
        return fail(p, WR_ETYPE, n->opcol, "cannot apply '+' to %s and %s; use concat() for text",
                    wr_type_name(lt), wr_type_name(rt));
    return fail(p, WR_ETYPE, n->opcol, "cannot apply '%s' to %s and %s", op, wr_type_name(lt),
                wr_type_name(rt));
}

static int arg_type_error(parser *p, int ni, int i, const char *want)
{
    const node *n = &p->nodes[ni];
    const node *a = &p->nodes[kid_at(p, ni, i)];
    return fail(p, WR_ETYPE, a->col, "argument %d of %s() must be %s, got %s", i + 1,
                functions[n->op].name, want, wr_type_name(a->type));
}

static int call_type(parser *p, int ni)
{
    node *n = &p->nodes[ni];
    const struct fn_info *f = &functions[n->op];
    wr_type t0;

    if (n->nkids < f->min || (f->max >= 0 && n->nkids > f->max)) {
        if (f->max < 0)
            return fail(p, WR_ETYPE, n->opcol, "%s() takes at least %d argument%s, got %d", f->name,
                        f->min, f->min == 1 ? "" : "s", n->nkids);
        return fail(p, WR_ETYPE, n->opcol, "%s() takes %d argument%s, got %d", f->name, f->min,
                    f->min == 1 ? "" : "s", n->nkids);
    }
    t0 = p->nodes[n->kid].type;
    switch (f->id) {
    case F_LOWER:
    case F_UPPER:
    case F_LENGTH:
        if (t0 != WR_T_STRING && t0 != WR_T_NULL)
            return arg_type_error(p, ni, 0, "string");
        n->type = f->id == F_LENGTH ? WR_T_LONG : WR_T_STRING;
        return ni;
    case F_STARTS_WITH:
    case F_ENDS_WITH:
    case F_CONTAINS:
        for (int i = 0; i < 2; i++) {
            wr_type t = p->nodes[kid_at(p, ni, i)].type;
            if (t != WR_T_STRING && t != WR_T_NULL)
                return arg_type_error(p, ni, i, "string");
        }
        n->type = WR_T_BOOL;
        return ni;
    case F_ABS:
        if (!is_num(t0) && t0 != WR_T_NULL)
            return arg_type_error(p, ni, 0, "a number");
        n->type = t0;
        return ni;
    case F_CONCAT:
    case F_TO_STRING:
        n->type = WR_T_STRING;
        return ni;
    case F_TO_LONG:
        n->type = WR_T_LONG;
        return ni;
    case F_TO_DOUBLE:
        n->type = WR_T_DOUBLE;
        return ni;
    case F_IS_NULL:
        n->type = WR_T_BOOL;
        return ni;
    case F_IF: {
        const node *a = &p->nodes[kid_at(p, ni, 1)], *b = &p->nodes[kid_at(p, ni, 2)];
        if (t0 != WR_T_BOOL && t0 != WR_T_NULL)
            return arg_type_error(p, ni, 0, "bool");
        if (!unify(a->type, b->type, &n->type))
            return fail(p, WR_ETYPE, b->col,
                        "the branches of if() must have compatible types, got %s and %s",
                        wr_type_name(a->type), wr_type_name(b->type));
        return ni;
    }
    case F_COALESCE: {
        wr_type t = WR_T_NULL;
        int i = 0;
        for (int k = n->kid; k >= 0; k = p->nodes[k].next, i++) {
            if (!unify(t, p->nodes[k].type, &t))
                return fail(p, WR_ETYPE, p->nodes[k].col,
                            "argument %d of coalesce() is %s, which does not go with %s", i + 1,
                            wr_type_name(p->nodes[k].type), wr_type_name(t));
        }
        n->type = t;
        return ni;
    }
    }
    return ni;
}

/* ---- parser ---------------------------------------------------------------------- */

static int parse_or(parser *p);

static int enter(parser *p)
{
    if (++p->depth > EXPR_MAX_DEPTH)
        return fail(p, WR_ESPEC, p->tok.col, "expression nested deeper than %d levels",
                    EXPR_MAX_DEPTH);
    return 0;
}

/* Levenshtein distance of two short names, capped at 9. */
static int distance(const char *a, size_t la, const char *b, size_t lb)
{
    int row[65];

    if (la > 64 || lb > 64)
        return 9;
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb] > 9 ? 9 : row[lb];
}

/* Writes " (did you mean 'x'?)" into buf if some candidate is close to name. */
static void suggest(char *buf, size_t cap, const char *name, size_t len, const char *const *cands,
                    int ncands)
{
    int best = len <= 4 ? 2 : 3;
    const char *pick = NULL;

    buf[0] = '\0';
    for (int i = 0; i < ncands; i++) {
        int d = distance(name, len, cands[i], strlen(cands[i]));
        if (d < best) {
            best = d;
            pick = cands[i];
        }
    }
    if (pick)
        snprintf(buf, cap, " (did you mean '%s'?)", pick);
}

static int parse_field(parser *p, const char *name, size_t len, size_t col)
{
    int f = p->in ? wr_schema_find(p->in, name, len) : -1;
    int ni;

    if (f < 0) {
        char shown[80], hint[96];
        const char *cands[64];
        int n = 0;
        for (int i = 0; p->in && i < p->in->nfields && n < 64; i++)
            cands[n++] = p->in->fields[i].name;
        printable(shown, sizeof shown, name, len);
        suggest(hint, sizeof hint, name, len, cands, n);
        return fail(p, WR_ETYPE, col, "unknown field '%s'%s", shown, hint);
    }
    ni = new_node(p, N_FIELD, col);
    if (ni < 0)
        return -1;
    p->nodes[ni].field = f;
    p->nodes[ni].type = p->in->fields[f].type;
    p->nodes[ni].nullable = p->in->fields[f].optional;
    p->nodes[ni].constant = false;
    return ni;
}

static int const_node(parser *p, size_t col, wr_value v)
{
    int ni = new_node(p, N_CONST, col);
    if (ni < 0)
        return -1;
    p->nodes[ni].k = v;
    p->nodes[ni].type = (wr_type)v.type;
    p->nodes[ni].nullable = v.type == WR_T_NULL;
    return ni;
}

/* Keeps a copy of s[0..len) for the lifetime of the expression. */
static char *own_string(parser *p, const char *s, size_t len)
{
    wr_expr *e = p->e;
    char **ns = realloc(e->strs, sizeof *ns * (size_t)(e->nstrs + 1));
    char *copy;

    if (!ns)
        return NULL;
    e->strs = ns;
    copy = malloc(len ? len : 1);
    if (!copy)
        return NULL;
    if (len)
        memcpy(copy, s, len);
    e->strs[e->nstrs++] = copy;
    return copy;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes the escape whose backslash is at s[*i] (s has n bytes; the lexer guarantees a
 * character follows the backslash) into out, which has room for 3 bytes. Advances *i past
 * the escape and returns the bytes written, or -1 if the escape is invalid. */
static int decode_escape(const char *s, size_t n, size_t *i, char *out)
{
    size_t at = *i + 1;
    unsigned cp = 0;
    int len = 1;

    switch (s[at]) {
    case '\\':
    case '\'':
    case '"':
    case '/':
        out[0] = s[at];
        break;
    case 'n':
        out[0] = '\n';
        break;
    case 't':
        out[0] = '\t';
        break;
    case 'r':
        out[0] = '\r';
        break;
    case '0':
        out[0] = '\0';
        break;
    case 'x':
        if (at + 2 >= n || hexval(s[at + 1]) < 0 || hexval(s[at + 2]) < 0)
            return -1;
        out[0] = (char)(hexval(s[at + 1]) * 16 + hexval(s[at + 2]));
        at += 2;
        break;
    case 'u':
        for (size_t k = 1; k <= 4; k++) {
            if (at + k >= n || hexval(s[at + k]) < 0)
                return -1;
            cp = cp * 16 + (unsigned)hexval(s[at + k]);
        }
        if (cp >= 0xd800 && cp <= 0xdfff)
            return -1;
        if (cp < 0x80) {
            out[0] = (char)cp;
        } else if (cp < 0x800) {
            out[0] = (char)(0xc0 | (cp >> 6));
            out[1] = (char)(0x80 | (cp & 0x3f));
            len = 2;
        } else {
            out[0] = (char)(0xe0 | (cp >> 12));
            out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
            out[2] = (char)(0x80 | (cp & 0x3f));
            len = 3;
        }
        at += 4;
        break;
    default:
        return -1;
    }
    *i = at;
    return len;
}

static int parse_string(parser *p)
{
    const token *t = &p->tok;
    const char *s = t->p + 1; /* between the quotes */
    size_t n = t->len - 2, o = 0;
    char *buf, *kept;
    int ni;

    /* decoding never grows the text: each escape is at least as long as its bytes */
    buf = malloc(n ? n : 1);
    if (!buf)
        return fail_nomem(p);
    for (size_t i = 0; i < n; i++) {
        size_t at = i;
        int len;
        char bytes[3];
        if (s[i] != '\\') {
            buf[o++] = s[i];
            continue;
        }
        len = decode_escape(s, n, &i, bytes);
        if (len < 0) {
            char shown[16];
            size_t left = n - at;
            printable(shown, sizeof shown, s + at, left < 6 ? left : 6);
            free(buf);
            return fail(p, WR_ESPEC, t->col + 1 + at, "invalid escape '%s' in string", shown);
        }
        memcpy(buf + o, bytes, (size_t)len);
        o += (size_t)len;
    }
    if (o > UINT32_MAX) {
        free(buf);
        return fail(p, WR_ESPEC, t->col, "string literal too long");
    }
    kept = own_string(p, buf, o);
    free(buf);
    if (!kept)
        return fail_nomem(p);
    ni = const_node(p, t->col, wr_value_str(kept, (uint32_t)o));
    if (ni >= 0)
        advance(p);
    return p->err ? -1 : ni;
}

/* An integer literal; negate is set when it follows a unary '-' (so -9223372036854775808
 * is representable). */
static int parse_int(parser *p, bool negate, size_t col)
{
    const token *t = &p->tok;
    uint64_t v = 0, limit = negate ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    int ni;

    for (size_t i = 0; i < t->len; i++) {
        unsigned d = (unsigned)(t->p[i] - '0');
        if (v > (limit - d) / 10) {
            char shown[40];
            printable(shown, sizeof shown, t->p, t->len);
            return fail(p, WR_ESPEC, t->col, "integer %s%s is out of range for long",
                        negate ? "-" : "", shown);
        }
        v = v * 10 + d;
    }
    ni = const_node(p, col,
                    wr_value_long(negate ? (int64_t)(0 - v) : (int64_t)v)); /* two's complement */
    if (ni >= 0)
        advance(p);
    return p->err ? -1 : ni;
}

static int parse_double(parser *p, bool negate, size_t col)
{
    const token *t = &p->tok;
    char buf[512];
    double d;
    int ni;

    if (t->len >= sizeof buf)
        return fail(p, WR_ESPEC, t->col, "number literal is too long");
    memcpy(buf, t->p, t->len);
    buf[t->len] = '\0';
    d = strtod(buf, NULL);
    if (isinf(d)) {
        char shown[40];
        printable(shown, sizeof shown, t->p, t->len);
        return fail(p, WR_ESPEC, t->col, "number %s is out of range for double", shown);
    }
    ni = const_node(p, col, wr_value_double(negate ? -d : d));
    if (ni >= 0)
        advance(p);
    return p->err ? -1 : ni;
}

static int parse_call(parser *p, const token *name)
{
    int fi = -1, ni, last = -1;

    for (size_t i = 0; i < NFUNCTIONS; i++) {
        if (strlen(functions[i].name) == name->len &&
            memcmp(functions[i].name, name->p, name->len) == 0)
            fi = (int)i;
    }
    if (fi < 0) {
        char shown[80], hint[96];
        const char *cands[NFUNCTIONS];
        for (size_t i = 0; i < NFUNCTIONS; i++)
            cands[i] = functions[i].name;
        printable(shown, sizeof shown, name->p, name->len);
        suggest(hint, sizeof hint, name->p, name->len, cands, (int)NFUNCTIONS);
        return fail(p, WR_ETYPE, name->col, "unknown function '%s'%s", shown, hint);
    }
    ni = new_node(p, N_CALL, name->col);
    if (ni < 0)
        return -1;
    p->nodes[ni].op = fi;
    advance(p); /* '(' */
    if (p->err)
        return -1;
    if (p->tok.kind != TK_RP) {
        for (;;) {
            int a;
            if (p->nodes[ni].nkids >= EXPR_MAX_STACK)
                return fail(p, WR_ESPEC, p->tok.col, "%s() has more than %d arguments",
                            functions[fi].name, EXPR_MAX_STACK);
            a = parse_or(p);
            if (a < 0)
                return -1;
            if (last < 0)
                p->nodes[ni].kid = a;
            else
                p->nodes[last].next = a;
            last = a;
            p->nodes[ni].nkids++;
            if (p->tok.kind != TK_COMMA)
                break;
            advance(p);
            if (p->err)
                return -1;
        }
        if (p->tok.kind != TK_RP) {
            char got[64];
            describe_tok(&p->tok, got, sizeof got);
            return fail(p, WR_ESPEC, p->tok.col, "expected ',' or ')' in the call of %s(), got %s",
                        functions[fi].name, got);
        }
    }
    advance(p); /* ')' */
    if (p->err || call_type(p, ni) < 0)
        return -1;
    return finish_node(p, ni);
}

static int parse_primary(parser *p)
{
    token t = p->tok;
    char got[64];

    switch (t.kind) {
    case TK_INT:
        return parse_int(p, false, t.col);
    case TK_DOUBLE:
        return parse_double(p, false, t.col);
    case TK_STRING:
        return parse_string(p);
    case TK_QFIELD:
        advance(p);
        if (p->err)
            return -1;
        return parse_field(p, t.p + 1, t.len - 2, t.col);
    case TK_LP: {
        int ni;
        if (enter(p) < 0)
            return -1;
        advance(p);
        if (p->err)
            return -1;
        ni = parse_or(p);
        if (ni < 0)
            return -1;
        if (p->tok.kind != TK_RP) {
            describe_tok(&p->tok, got, sizeof got);
            return fail(p, WR_ESPEC, p->tok.col,
                        "expected ')' to close the '(' at column %zu, got %s", t.col, got);
        }
        p->nodes[ni].col = t.col;
        p->depth--;
        advance(p);
        return p->err ? -1 : ni;
    }
    case TK_IDENT: {
        advance(p);
        if (p->err)
            return -1;
        if (p->tok.kind == TK_LP) {
            int ni;
            if (enter(p) < 0)
                return -1;
            ni = parse_call(p, &t);
            p->depth--;
            return ni;
        }
        if (t.len == 4 && memcmp(t.p, "true", 4) == 0)
            return const_node(p, t.col, wr_value_bool(true));
        if (t.len == 5 && memcmp(t.p, "false", 5) == 0)
            return const_node(p, t.col, wr_value_bool(false));
        if (t.len == 4 && memcmp(t.p, "null", 4) == 0)
            return const_node(p, t.col, wr_value_null());
        return parse_field(p, t.p, t.len, t.col);
    }
    default:
        describe_tok(&t, got, sizeof got);
        return fail(p, WR_ESPEC, t.col, "expected a value, a field or '(', got %s", got);
    }
}

static int parse_unary(parser *p)
{
    token t = p->tok;
    int ni, kid;

    if (t.kind != TK_BANG && t.kind != TK_MINUS)
        return parse_primary(p);
    if (enter(p) < 0)
        return -1;
    advance(p);
    if (p->err)
        return -1;
    /* a negative literal is a literal, so the most negative long can be written */
    if (t.kind == TK_MINUS && p->tok.kind == TK_INT) {
        ni = parse_int(p, true, t.col);
        p->depth--;
        return ni;
    }
    if (t.kind == TK_MINUS && p->tok.kind == TK_DOUBLE) {
        ni = parse_double(p, true, t.col);
        p->depth--;
        return ni;
    }
    kid = parse_unary(p);
    if (kid < 0)
        return -1;
    p->depth--;
    ni = new_node(p, t.kind == TK_BANG ? N_NOT : N_NEG, t.col);
    if (ni < 0)
        return -1;
    p->nodes[ni].kid = kid;
    p->nodes[ni].nkids = 1;
    {
        node *n = &p->nodes[ni];
        wr_type kt = p->nodes[kid].type;
        if (t.kind == TK_BANG) {
            if (kt != WR_T_BOOL && kt != WR_T_NULL)
                return fail(p, WR_ETYPE, p->nodes[kid].col, "operand of '!' must be bool, got %s",
                            wr_type_name(kt));
            n->type = WR_T_BOOL;
        } else {
            if (!is_num(kt) && kt != WR_T_NULL)
                return fail(p, WR_ETYPE, p->nodes[kid].col,
                            "operand of unary '-' must be a number, got %s", wr_type_name(kt));
            n->type = kt;
        }
    }
    return finish_node(p, ni);
}

static int make_binary(parser *p, enum tok op, size_t opcol, int l, int r)
{
    int ni = new_node(p, op == TK_AND ? N_AND : op == TK_OR ? N_OR : N_BIN, p->nodes[l].col);

    if (ni < 0)
        return -1;
    p->nodes[ni].op = op;
    p->nodes[ni].opcol = opcol;
    p->nodes[ni].kid = l;
    p->nodes[ni].nkids = 2;
    p->nodes[l].next = r;
    if (binary_type(p, ni) < 0)
        return -1;
    return finish_node(p, ni);
}

static int parse_mul(parser *p)
{
    int l = parse_unary(p);

    while (l >= 0 && (p->tok.kind == TK_STAR || p->tok.kind == TK_SLASH || p->tok.kind == TK_PCT)) {
        token op = p->tok;
        int r;
        advance(p);
        if (p->err)
            return -1;
        r = parse_unary(p);
        if (r < 0)
            return -1;
        l = make_binary(p, op.kind, op.col, l, r);
    }
    return l;
}

static int parse_add(parser *p)
{
    int l = parse_mul(p);

    while (l >= 0 && (p->tok.kind == TK_PLUS || p->tok.kind == TK_MINUS)) {
        token op = p->tok;
        int r;
        advance(p);
        if (p->err)
            return -1;
        r = parse_mul(p);
        if (r < 0)
            return -1;
        l = make_binary(p, op.kind, op.col, l, r);
    }
    return l;
}

static int parse_cmp(parser *p)
{
    int l = parse_add(p), r;
    token op = p->tok;

    if (l < 0 || !tok_is_cmp(op.kind))
        return l;
    advance(p);
    if (p->err)
        return -1;
    r = parse_add(p);
    if (r < 0)
        return -1;
    if (tok_is_cmp(p->tok.kind))
        return fail(p, WR_ESPEC, p->tok.col,
                    "comparisons cannot be chained; join them with '&&' (a < b && b < c)");
    return make_binary(p, op.kind, op.col, l, r);
}

static int parse_and(parser *p)
{
    int l = parse_cmp(p);

    while (l >= 0 && p->tok.kind == TK_AND) {
        token op = p->tok;
        int r;
        advance(p);
        if (p->err)
            return -1;
        r = parse_cmp(p);
        if (r < 0)
            return -1;
        l = make_binary(p, op.kind, op.col, l, r);
    }
    return l;
}

static int parse_or(parser *p)
{
    int l = parse_and(p);

    while (l >= 0 && p->tok.kind == TK_OR) {
        token op = p->tok;
        int r;
        advance(p);
        if (p->err)
            return -1;
        r = parse_and(p);
        if (r < 0)
            return -1;
        l = make_binary(p, op.kind, op.col, l, r);
    }
    return l;
}

/* ---- code generation ------------------------------------------------------------- */

static int emit_ins(emitter *em, uint8_t op, wr_type type, int nargs, bool strict, int32_t arg)
{
    ins *in;

    if (em->n == em->cap) {
        int ncap = em->cap ? em->cap * 2 : 32;
        ins *nc = realloc(em->code, sizeof *nc * (size_t)ncap);
        if (!nc)
            return -1;
        em->code = nc;
        em->cap = ncap;
    }
    in = &em->code[em->n];
    memset(in, 0, sizeof *in);
    in->op = op;
    in->type = (uint8_t)type;
    in->nargs = (uint8_t)nargs;
    in->flags = strict ? INS_STRICT : 0;
    in->arg = arg;
    return em->n++;
}

static int emit_push(emitter *em, wr_value v)
{
    int at = emit_ins(em, OP_PUSH, (wr_type)v.type, 0, false, 0);
    if (at >= 0)
        em->code[at].k = v;
    return at;
}

/* Converts the value on top from type `from` to `to` (only long → double exists). */
static int emit_conv(emitter *em, wr_type from, wr_type to)
{
    if (from == WR_T_LONG && to == WR_T_DOUBLE)
        return emit_ins(em, OP_L2D, WR_T_DOUBLE, 1, false, 0);
    return 0;
}

static int emit(const parser *p, emitter *em, int ni)
{
    const node *n = &p->nodes[ni];
    const node *a = n->kid >= 0 ? &p->nodes[n->kid] : NULL;
    const node *b = a && a->next >= 0 ? &p->nodes[a->next] : NULL;
    int j1, j2;

    if (n->type == WR_T_NULL || n->kind == N_CONST)
        return emit_push(em, n->kind == N_CONST ? n->k : wr_value_null());
    switch (n->kind) {
    case N_CONST:
        break;
    case N_FIELD:
        j1 = emit_ins(em, OP_LOAD, n->type, 0, false, n->field);
        if (j1 >= 0 && n->nullable)
            em->code[j1].flags |= INS_OPTIONAL;
        return j1;
    case N_NEG:
        if (emit(p, em, n->kid) < 0)
            return -1;
        return emit_ins(em, n->type == WR_T_DOUBLE ? OP_NEG_D : OP_NEG_L, n->type, 1, true, 0);
    case N_NOT:
        if (emit(p, em, n->kid) < 0)
            return -1;
        return emit_ins(em, OP_NOT, WR_T_BOOL, 1, true, 0);
    case N_AND:
    case N_OR:
        if (emit(p, em, n->kid) < 0)
            return -1;
        j1 = emit_ins(em, n->kind == N_AND ? OP_JF_KEEP : OP_JT_KEEP, WR_T_BOOL, 0, false, 0);
        if (j1 < 0 || emit(p, em, a->next) < 0 ||
            emit_ins(em, n->kind == N_AND ? OP_AND : OP_OR, WR_T_BOOL, 2, false, 0) < 0)
            return -1;
        em->code[j1].arg = em->n;
        return 0;
    case N_BIN: {
        wr_type lt = a->type, rt = b->type, wide;
        bool dbl = lt == WR_T_DOUBLE || rt == WR_T_DOUBLE;
        uint8_t op;
        wide = dbl ? WR_T_DOUBLE : WR_T_LONG;
        if (emit(p, em, n->kid) < 0 || emit_conv(em, lt, wide) < 0 || emit(p, em, a->next) < 0 ||
            emit_conv(em, rt, wide) < 0)
            return -1;
        if (tok_is_cmp((enum tok)n->op)) {
            op = dbl ? OP_CMP_D : (lt == WR_T_STRING || rt == WR_T_STRING) ? OP_CMP_S : OP_CMP_I;
            return emit_ins(em, op, WR_T_BOOL, 2, true, n->op);
        }
        switch (n->op) {
        case TK_PLUS:
            op = dbl ? OP_ADD_D : OP_ADD_L;
            break;
        case TK_MINUS:
            op = dbl ? OP_SUB_D : OP_SUB_L;
            break;
        case TK_STAR:
            op = dbl ? OP_MUL_D : OP_MUL_L;
            break;
        case TK_SLASH:
            op = dbl ? OP_DIV_D : OP_DIV_L;
            break;
        default:
            op = dbl ? OP_MOD_D : OP_MOD_L;
            break;
        }
        return emit_ins(em, op, n->type, 2, true, 0);
    }
    case N_CALL:
        break;
    }

    switch ((enum fn)n->op) {
    case F_IF: {
        const node *c = &p->nodes[b->next];
        if (emit(p, em, n->kid) < 0)
            return -1;
        j1 = emit_ins(em, OP_JNT_POP, WR_T_BOOL, 0, false, 0);
        if (j1 < 0 || emit(p, em, a->next) < 0 || emit_conv(em, b->type, n->type) < 0)
            return -1;
        j2 = emit_ins(em, OP_JMP, WR_T_NULL, 0, false, 0);
        if (j2 < 0)
            return -1;
        em->code[j1].arg = em->n;
        if (emit(p, em, b->next) < 0 || emit_conv(em, c->type, n->type) < 0)
            return -1;
        em->code[j2].arg = em->n;
        return 0;
    }
    case F_COALESCE: {
        int first = em->n;
        for (int k = n->kid; k >= 0; k = p->nodes[k].next) {
            if (emit(p, em, k) < 0 || emit_conv(em, p->nodes[k].type, n->type) < 0)
                return -1;
            if (p->nodes[k].next >= 0) {
                /* the jump's target is patched below, once the end is known */
                if (emit_ins(em, OP_JNN_KEEP, n->type, 0, false, -1) < 0 ||
                    emit_ins(em, OP_POP, WR_T_NULL, 0, false, 0) < 0)
                    return -1;
            }
        }
        for (int i = first; i < em->n; i++) {
            if (em->code[i].op == OP_JNN_KEEP && em->code[i].arg == -1)
                em->code[i].arg = em->n;
        }
        return 0;
    }
    default:
        break;
    }
    for (int k = n->kid; k >= 0; k = p->nodes[k].next) {
        if (emit(p, em, k) < 0)
            return -1;
    }
    switch ((enum fn)n->op) {
    case F_LOWER:
        return emit_ins(em, OP_LOWER, WR_T_STRING, 1, true, 0);
    case F_UPPER:
        return emit_ins(em, OP_UPPER, WR_T_STRING, 1, true, 0);
    case F_LENGTH:
        return emit_ins(em, OP_LENGTH, WR_T_LONG, 1, true, 0);
    case F_CONCAT:
        return emit_ins(em, OP_CONCAT, WR_T_STRING, n->nkids, true, 0);
    case F_ABS:
        return emit_ins(em, n->type == WR_T_DOUBLE ? OP_ABS_D : OP_ABS_L, n->type, 1, true, 0);
    case F_STARTS_WITH:
        return emit_ins(em, OP_STARTS, WR_T_BOOL, 2, true, 0);
    case F_ENDS_WITH:
        return emit_ins(em, OP_ENDS, WR_T_BOOL, 2, true, 0);
    case F_CONTAINS:
        return emit_ins(em, OP_CONTAINS, WR_T_BOOL, 2, true, 0);
    case F_IS_NULL:
        return emit_ins(em, OP_IS_NULL, WR_T_BOOL, 1, false, 0);
    case F_TO_STRING:
        return emit_ins(em, OP_TO_STRING, a->type, 1, true, 0);
    case F_TO_LONG:
        return emit_ins(em, OP_TO_LONG, a->type, 1, true, 0);
    case F_TO_DOUBLE:
        return emit_ins(em, OP_TO_DOUBLE, a->type, 1, true, 0);
    case F_IF:
    case F_COALESCE:
        break;
    }
    return 0;
}

/* ---- constant folding ------------------------------------------------------------ */

/* Replaces every maximal subtree of ni that reads no field by its value. A subtree
 * whose evaluation fails is kept, so the failure happens at run time if reached. */
static int fold(parser *p, int ni, char *scratch_mem)
{
    node *n = &p->nodes[ni];

    if (n->kind == N_CONST || n->kind == N_FIELD)
        return 0;
    if (n->constant) {
        emitter em = {0};
        wr_arena scratch;
        wr_value v;
        wr_err err;

        wr_arena_init(&scratch, scratch_mem, FOLD_SCRATCH);
        if (emit(p, &em, ni) < 0) {
            free(em.code);
            return fail_nomem(p);
        }
        err = run(em.code, em.n, p->in, NULL, &scratch, &v, NULL);
        free(em.code);
        if (err == WR_OK) {
            if (v.type == WR_T_STRING) {
                const char *kept = own_string(p, v.u.s, v.len);
                if (!kept)
                    return fail_nomem(p);
                v.u.s = kept;
            }
            n = &p->nodes[ni];
            n->kind = N_CONST;
            n->k = v;
            n->kid = -1;
            n->nkids = 0;
            n->nullable = v.type == WR_T_NULL;
            return 0;
        }
    }
    for (int k = p->nodes[ni].kid; k >= 0; k = p->nodes[k].next) {
        if (fold(p, k, scratch_mem) < 0)
            return -1;
    }
    set_nullable(p, ni);
    return 0;
}

/* ---- public: compile ------------------------------------------------------------- */

void wr_expr_free(wr_expr *e)
{
    if (!e)
        return;
    for (int i = 0; i < e->nstrs; i++)
        free(e->strs[i]);
    free(e->strs);
    free(e->code);
    free(e);
}

wr_err wr_expr_compile(const char *src, const wr_schema *in, wr_expr **out, wr_errbuf *eb)
{
    parser p = {0};
    emitter em = {0};
    char *fold_mem = NULL;
    int root;

    p.src = src ? src : "";
    p.in = in;
    p.eb = eb;
    p.e = calloc(1, sizeof *p.e);
    if (!p.e)
        return wr_fail(eb, WR_ENOMEM, "out of memory compiling the expression");
    p.e->in = in;

    advance(&p);
    if (p.err)
        goto out;
    if (p.tok.kind == TK_EOF) {
        fail(&p, WR_ESPEC, p.tok.col, "the expression is empty");
        goto out;
    }
    root = parse_or(&p);
    if (root < 0)
        goto out;
    if (p.tok.kind != TK_EOF) {
        char got[64];
        describe_tok(&p.tok, got, sizeof got);
        if (p.tok.kind == TK_RP)
            fail(&p, WR_ESPEC, p.tok.col, "unmatched ')'");
        else
            fail(&p, WR_ESPEC, p.tok.col, "unexpected %s after a complete expression", got);
        goto out;
    }
    if (p.nodes[root].type == WR_T_NULL) {
        fail(&p, WR_ETYPE, p.nodes[root].col, "the expression is always null, so it has no type");
        goto out;
    }
    fold_mem = malloc(FOLD_SCRATCH);
    if (!fold_mem) {
        fail_nomem(&p);
        goto out;
    }
    if (fold(&p, root, fold_mem) < 0)
        goto out;
    if (emit(&p, &em, root) < 0) {
        fail_nomem(&p);
        goto out;
    }
    p.e->code = em.code;
    p.e->ncode = em.n;
    em.code = NULL;
    p.e->type = p.nodes[root].type;
    p.e->nullable = p.nodes[root].nullable;

out:
    free(fold_mem);
    free(em.code);
    free(p.nodes);
    if (p.err) {
        wr_expr_free(p.e);
        return p.err;
    }
    *out = p.e;
    return WR_OK;
}

wr_type wr_expr_type(const wr_expr *e)
{
    return e->type;
}

bool wr_expr_nullable(const wr_expr *e)
{
    return e->nullable;
}

void wr_expr_mark_fields(const wr_expr *e, bool *used)
{
    for (int i = 0; i < e->ncode; i++) {
        if (e->code[i].op == OP_LOAD)
            used[e->code[i].arg] = true;
    }
}

/* ---- evaluation ------------------------------------------------------------------ */

/* Returns a pointer to n bytes of scratch, or NULL if there is no room. */
static char *scratch_alloc(wr_arena *a, size_t n)
{
    static char empty[1];

    if (n == 0)
        return empty;
    if (!a || !a->base)
        return NULL;
    return wr_arena_alloc(a, n);
}

static size_t scratch_room(const wr_arena *a)
{
    return a && a->base ? a->cap - a->used : 0;
}

static wr_err no_room(wr_errbuf *eb, const char *fn, size_t need, const wr_arena *a)
{
    return wr_fail(eb, WR_EEVAL,
                   "string result of %s() needs %zu bytes, more than the %zu left in the %zu-byte "
                   "scratch space",
                   fn, need, scratch_room(a), a ? a->cap : (size_t)0);
}

/* days since 1970-01-01 → civil date (proleptic Gregorian), valid for any int64 day count
 * derived from milliseconds. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era, yy;
    unsigned doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    yy = (int64_t)yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yy + (*m <= 2);
}

static size_t format_double(double d, char *buf)
{
    if (isnan(d))
        return (size_t)snprintf(buf, TEXT_MAX, "nan");
    if (isinf(d))
        return (size_t)snprintf(buf, TEXT_MAX, d > 0 ? "inf" : "-inf");
    for (int prec = 15; prec <= 17; prec++) {
        int n = snprintf(buf, TEXT_MAX, "%.*g", prec, d);
        if (prec == 17 || strtod(buf, NULL) == d)
            return (size_t)n;
    }
    return 0; /* not reached */
}

/* The text of a non-null value: strings as they are, other types formatted into tmp. */
static void value_text(const wr_value *v, char tmp[TEXT_MAX], const char **s, size_t *len)
{
    switch ((wr_type)v->type) {
    case WR_T_STRING:
        *s = v->u.s;
        *len = v->len;
        return;
    case WR_T_BOOL:
        *s = v->u.i ? "true" : "false";
        *len = v->u.i ? 4 : 5;
        return;
    case WR_T_LONG:
        *len = (size_t)snprintf(tmp, TEXT_MAX, "%" PRId64, v->u.i);
        break;
    case WR_T_DOUBLE:
        *len = format_double(v->u.d, tmp);
        break;
    case WR_T_TIMESTAMP: {
        int64_t ms = v->u.i, days = ms / 86400000, rem = ms % 86400000, y;
        unsigned mo, d;
        if (rem < 0) { /* floor, without computing days * 86400000 (it can overflow) */
            days--;
            rem += 86400000;
        }
        civil_from_days(days, &y, &mo, &d);
        *len = (size_t)snprintf(tmp, TEXT_MAX, "%04" PRId64 "-%02u-%02uT%02u:%02u:%02u.%03uZ", y,
                                mo, d, (unsigned)(rem / 3600000), (unsigned)(rem / 60000 % 60),
                                (unsigned)(rem / 1000 % 60), (unsigned)(rem % 1000));
        break;
    }
    case WR_T_NULL:
        *len = 0;
        break;
    }
    *s = tmp;
}

static int compare(enum tok op, int c)
{
    switch (op) {
    case TK_EQ:
        return c == 0;
    case TK_NE:
        return c != 0;
    case TK_LT:
        return c < 0;
    case TK_LE:
        return c <= 0;
    case TK_GT:
        return c > 0;
    default:
        return c >= 0;
    }
}

static bool bytes_find(const char *h, size_t hl, const char *n, size_t nl)
{
    if (nl == 0)
        return true;
    if (nl > hl)
        return false;
    for (size_t i = 0; i + nl <= hl; i++) {
        if (h[i] == n[0] && memcmp(h + i, n, nl) == 0)
            return true;
    }
    return false;
}

static wr_err to_long_from_string(const wr_value *v, int64_t *out, wr_errbuf *eb)
{
    const char *s = v->u.s;
    size_t i = 0, n = v->len;
    bool neg = false;
    uint64_t acc = 0, limit;
    char shown[72];

    if (n > 0 && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        i = 1;
    }
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (i == n)
        goto not_int;
    for (; i < n; i++) {
        unsigned d;
        if (!is_digit(s[i]))
            goto not_int;
        d = (unsigned)(s[i] - '0');
        if (acc > (limit - d) / 10) {
            printable(shown, sizeof shown, s, n);
            return wr_fail(eb, WR_EEVAL, "to_long(): '%s' is out of the range of long", shown);
        }
        acc = acc * 10 + d;
    }
    *out = neg ? (int64_t)(0 - acc) : (int64_t)acc;
    return WR_OK;
not_int:
    printable(shown, sizeof shown, s, n);
    return wr_fail(eb, WR_EEVAL, "to_long(): '%s' is not an integer", shown);
}

static wr_err to_double_from_string(const wr_value *v, double *out, wr_errbuf *eb)
{
    char buf[512], *end;
    char shown[72];
    size_t i = v->len > 0 && (v->u.s[0] == '-' || v->u.s[0] == '+');

    /* decimal numbers only: strtod would also take "inf", "nan", "0x1p4" and spaces */
    if (i >= v->len || v->len >= sizeof buf || !(is_digit(v->u.s[i]) || v->u.s[i] == '.') ||
        memchr(v->u.s, 'x', v->len) || memchr(v->u.s, 'X', v->len))
        goto not_num;
    memcpy(buf, v->u.s, v->len);
    buf[v->len] = '\0';
    *out = strtod(buf, &end);
    if (end != buf + v->len)
        goto not_num;
    return WR_OK;
not_num:
    printable(shown, sizeof shown, v->u.s, v->len);
    return wr_fail(eb, WR_EEVAL, "to_double(): '%s' is not a number", shown);
}

static wr_err bad_field(const wr_schema *in, const ins *c, const wr_value *v, wr_errbuf *eb)
{
    const char *name = in && c->arg < in->nfields ? in->fields[c->arg].name : "?";

    if (v->type == WR_T_NULL)
        return wr_fail(eb, WR_EEVAL, "field '%s' is null but the schema says it is not optional",
                       name);
    return wr_fail(eb, WR_EEVAL, "field '%s' holds a %s but the schema says %s", name,
                   v->type <= WR_T_TIMESTAMP ? wr_type_name((wr_type)v->type) : "corrupt value",
                   wr_type_name((wr_type)c->type));
}

static wr_err run(const ins *code, int n, const wr_schema *in, const wr_value *row,
                  wr_arena *scratch, wr_value *out, wr_errbuf *eb)
{
    wr_value st[EXPR_MAX_STACK];
    int sp = 0;

    for (int pc = 0; pc < n; pc++) {
        const ins *c = &code[pc];
        wr_value *a, *b;

        if (c->flags & INS_STRICT) {
            bool null = false;
            for (int i = sp - c->nargs; i < sp; i++)
                null |= st[i].type == WR_T_NULL;
            if (null) {
                sp -= c->nargs;
                st[sp++] = wr_value_null();
                continue;
            }
        }
        /* b is the top of the stack, a the value under it: the operands of a binary
         * operator, or b alone for a unary one. The compiler proved sp never passes
         * EXPR_MAX_STACK and never drops below what an instruction pops. */
        a = sp >= 2 ? &st[sp - 2] : &st[0];
        b = sp >= 1 ? &st[sp - 1] : &st[0];

        switch ((enum op)c->op) {
        case OP_PUSH:
            st[sp++] = c->k;
            break;
        case OP_LOAD: {
            const wr_value *v = &row[c->arg];
            if (v->type != c->type && !(v->type == WR_T_NULL && (c->flags & INS_OPTIONAL)))
                return bad_field(in, c, v, eb);
            st[sp++] = *v;
            break;
        }
        case OP_POP:
            sp--;
            break;
        case OP_L2D:
            if (b->type == WR_T_LONG)
                *b = wr_value_double((double)b->u.i);
            break;
        case OP_NEG_L:
            if (b->u.i == INT64_MIN)
                return wr_fail(eb, WR_EEVAL, "integer overflow in '-'");
            b->u.i = -b->u.i;
            break;
        case OP_NEG_D:
            b->u.d = -b->u.d;
            break;
        case OP_NOT:
            b->u.i = !b->u.i;
            break;
        case OP_ADD_L:
            if (__builtin_add_overflow(a->u.i, b->u.i, &a->u.i))
                return wr_fail(eb, WR_EEVAL, "integer overflow in '+'");
            a->type = c->type;
            sp--;
            break;
        case OP_SUB_L:
            if (__builtin_sub_overflow(a->u.i, b->u.i, &a->u.i))
                return wr_fail(eb, WR_EEVAL, "integer overflow in '-'");
            a->type = c->type;
            sp--;
            break;
        case OP_MUL_L:
            if (__builtin_mul_overflow(a->u.i, b->u.i, &a->u.i))
                return wr_fail(eb, WR_EEVAL, "integer overflow in '*'");
            a->type = c->type;
            sp--;
            break;
        case OP_DIV_L:
            if (b->u.i == 0)
                return wr_fail(eb, WR_EEVAL, "division by zero");
            if (a->u.i == INT64_MIN && b->u.i == -1)
                return wr_fail(eb, WR_EEVAL, "integer overflow in '/'");
            a->u.i /= b->u.i;
            sp--;
            break;
        case OP_MOD_L:
            if (b->u.i == 0)
                return wr_fail(eb, WR_EEVAL, "division by zero");
            a->u.i = b->u.i == -1 ? 0 : a->u.i % b->u.i;
            sp--;
            break;
        case OP_ADD_D:
            a->u.d += b->u.d;
            sp--;
            break;
        case OP_SUB_D:
            a->u.d -= b->u.d;
            sp--;
            break;
        case OP_MUL_D:
            a->u.d *= b->u.d;
            sp--;
            break;
        case OP_DIV_D:
            a->u.d /= b->u.d;
            sp--;
            break;
        case OP_MOD_D:
            a->u.d = fmod(a->u.d, b->u.d);
            sp--;
            break;
        case OP_CMP_I:
            *a = wr_value_bool(compare((enum tok)c->arg, (a->u.i > b->u.i) - (a->u.i < b->u.i)));
            sp--;
            break;
        case OP_CMP_D: {
            double x = a->u.d, y = b->u.d;
            bool r;
            switch ((enum tok)c->arg) { /* NaN compares unequal to everything, as IEEE says */
            case TK_EQ:
                r = x == y;
                break;
            case TK_NE:
                r = x != y;
                break;
            case TK_LT:
                r = x < y;
                break;
            case TK_LE:
                r = x <= y;
                break;
            case TK_GT:
                r = x > y;
                break;
            default:
                r = x >= y;
                break;
            }
            *a = wr_value_bool(r);
            sp--;
            break;
        }
        case OP_CMP_S: {
            size_t m = a->len < b->len ? a->len : b->len;
            int r = m ? memcmp(a->u.s, b->u.s, m) : 0;
            if (r == 0)
                r = (a->len > b->len) - (a->len < b->len);
            *a = wr_value_bool(compare((enum tok)c->arg, r));
            sp--;
            break;
        }
        case OP_JF_KEEP:
            if (b->type == WR_T_BOOL && !b->u.i)
                pc = c->arg - 1;
            break;
        case OP_JT_KEEP:
            if (b->type == WR_T_BOOL && b->u.i)
                pc = c->arg - 1;
            break;
        case OP_JNN_KEEP:
            if (b->type != WR_T_NULL)
                pc = c->arg - 1;
            break;
        case OP_JNT_POP:
            sp--;
            if (!(b->type == WR_T_BOOL && b->u.i))
                pc = c->arg - 1;
            break;
        case OP_JMP:
            pc = c->arg - 1;
            break;
        case OP_AND: /* a is true or null */
            if (b->type == WR_T_BOOL && !b->u.i)
                *a = wr_value_bool(false);
            else if (a->type == WR_T_NULL || b->type == WR_T_NULL)
                *a = wr_value_null();
            else
                *a = wr_value_bool(true);
            sp--;
            break;
        case OP_OR: /* a is false or null */
            if (b->type == WR_T_BOOL && b->u.i)
                *a = wr_value_bool(true);
            else if (a->type == WR_T_NULL || b->type == WR_T_NULL)
                *a = wr_value_null();
            else
                *a = wr_value_bool(false);
            sp--;
            break;
        case OP_IS_NULL:
            *b = wr_value_bool(b->type == WR_T_NULL);
            break;
        case OP_LOWER:
        case OP_UPPER: {
            char *d = scratch_alloc(scratch, b->len);
            if (!d)
                return no_room(eb, c->op == OP_LOWER ? "lower" : "upper", b->len, scratch);
            for (uint32_t i = 0; i < b->len; i++) {
                char ch = b->u.s[i];
                if (c->op == OP_LOWER && ch >= 'A' && ch <= 'Z')
                    ch = (char)(ch - 'A' + 'a');
                else if (c->op == OP_UPPER && ch >= 'a' && ch <= 'z')
                    ch = (char)(ch - 'a' + 'A');
                d[i] = ch;
            }
            b->u.s = d;
            break;
        }
        case OP_LENGTH:
            *b = wr_value_long(b->len);
            break;
        case OP_CONCAT:
        case OP_TO_STRING: {
            /* write the pieces straight after the arena's used part, then claim them */
            size_t room = scratch_room(scratch), total = 0;
            char *dst = room ? scratch->base + scratch->used : NULL;
            char *res;
            int first = sp - c->nargs;
            if (c->op == OP_TO_STRING && b->type == WR_T_STRING)
                break;
            for (int i = first; i < sp; i++) {
                char tmp[TEXT_MAX];
                const char *s;
                size_t len = 0;
                value_text(&st[i], tmp, &s, &len);
                if (total + len <= room && len)
                    memcpy(dst + total, s, len);
                total += len;
            }
            if (total > UINT32_MAX || total > room)
                return no_room(eb, c->op == OP_CONCAT ? "concat" : "to_string", total, scratch);
            res = scratch_alloc(scratch, total);
            sp = first;
            st[sp++] = wr_value_str(res, (uint32_t)total);
            break;
        }
        case OP_ABS_L:
            if (b->u.i == INT64_MIN)
                return wr_fail(eb, WR_EEVAL, "integer overflow in abs()");
            if (b->u.i < 0)
                b->u.i = -b->u.i;
            break;
        case OP_ABS_D:
            b->u.d = fabs(b->u.d);
            break;
        case OP_STARTS:
            *a = wr_value_bool(b->len <= a->len &&
                               (b->len == 0 || memcmp(a->u.s, b->u.s, b->len) == 0));
            sp--;
            break;
        case OP_ENDS:
            *a =
                wr_value_bool(b->len <= a->len && (b->len == 0 || memcmp(a->u.s + (a->len - b->len),
                                                                         b->u.s, b->len) == 0));
            sp--;
            break;
        case OP_CONTAINS:
            *a = wr_value_bool(bytes_find(a->u.s, a->len, b->u.s, b->len));
            sp--;
            break;
        case OP_TO_LONG:
            switch ((wr_type)c->type) {
            case WR_T_STRING: {
                int64_t v = 0;
                wr_err err = to_long_from_string(b, &v, eb);
                if (err)
                    return err;
                *b = wr_value_long(v);
                break;
            }
            case WR_T_DOUBLE: {
                double d = b->u.d;
                if (isnan(d) || d >= 9223372036854775808.0 || d < -9223372036854775808.0) {
                    char tmp[TEXT_MAX];
                    format_double(d, tmp);
                    return wr_fail(eb, WR_EEVAL, "to_long(): %s is out of the range of long", tmp);
                }
                *b = wr_value_long((int64_t)d);
                break;
            }
            default: /* long, bool, timestamp: the integer itself */
                *b = wr_value_long(b->u.i);
                break;
            }
            break;
        case OP_TO_DOUBLE:
            switch ((wr_type)c->type) {
            case WR_T_STRING: {
                double d = 0;
                wr_err err = to_double_from_string(b, &d, eb);
                if (err)
                    return err;
                *b = wr_value_double(d);
                break;
            }
            case WR_T_DOUBLE:
                break;
            default:
                *b = wr_value_double((double)b->u.i);
                break;
            }
            break;
        }
    }
    *out = st[0];
    return WR_OK;
}

wr_err wr_expr_eval(const wr_expr *e, const wr_value *row, wr_arena *scratch, wr_value *out,
                    wr_errbuf *eb)
{
    return run(e->code, e->ncode, e->in, row, scratch, out, eb);
}
