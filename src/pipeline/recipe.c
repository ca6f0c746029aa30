/* recipe.c — see recipe.h.
 *
 * Two passes: the text becomes a flat list of statements (a repeat block is
 * the range of statements after its `repeat`), then the statements are
 * walked once per round, expanding variables into the plan. */
#include "recipe.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "../base/util.h"

typedef enum { STMT_SET, STMT_STEP, STMT_REPEAT } StmtKind;

typedef struct {
    StmtKind kind;
    int line;
    char *name;            /* set: the variable; step: the step */
    char *value;           /* set: the value; repeat: the count; step: the command line */
    StepKind step_kind;
    int command_line;      /* step: the line of its command */
    char **outputs;        /* step: unexpanded output paths */
    int *output_lines;
    int n_outputs;
    int body_end;          /* repeat: its body is the statements (this one, body_end) */
} Stmt;

typedef struct {
    const char *file;
    Stmt *stmts;
    int n;
} Recipe;

static int valid_name(const char *s, int allow_dash) {
    if (!*s || isdigit((unsigned char)*s)) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && !(allow_dash && *s == '-')) return 0;
    return 1;
}

/* The first word of s (cut off with a NUL) and the rest, trimmed. */
static char *split_keyword(char *s, char **rest) {
    char *end = s;
    while (*end && !isspace((unsigned char)*end)) end++;
    char *r = end;
    while (*r && isspace((unsigned char)*r)) r++;
    *end = 0;
    *rest = r;
    return s;
}

/* ---- pass 1: statements ---- */

static Stmt *add_stmt(Recipe *r, StmtKind kind, int line) {
    r->stmts = xrealloc(r->stmts, sizeof(Stmt) * (size_t)(r->n + 1));
    Stmt *s = &r->stmts[r->n++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->line = line;
    return s;
}

/* One logical line (comments and blank lines already dropped). */
static void parse_line(Recipe *r, char *text, int line, int *open_step, int *open_repeat) {
    char *rest, *word = split_keyword(text, &rest);
    Stmt *step = *open_step >= 0 ? &r->stmts[*open_step] : NULL;
    if (strcmp(word, "set") == 0) {
        char *eq = strchr(rest, '=');
        if (!eq) die_at(r->file, line, "expected `set NAME = VALUE`");
        char *name_end = eq;
        while (name_end > rest && isspace((unsigned char)name_end[-1])) name_end--;
        char *value = eq + 1;
        while (*value && isspace((unsigned char)*value)) value++;
        Stmt *s = add_stmt(r, STMT_SET, line);
        s->name = xstrndup(rest, (size_t)(name_end - rest));
        if (!valid_name(s->name, 0)) die_at(r->file, line, "\"%s\" is not a variable name (letters, digits, _)", s->name);
        s->value = xstrdup(value);
        *open_step = -1;
    } else if (strcmp(word, "step") == 0) {
        if (!valid_name(rest, 1)) die_at(r->file, line, "expected `step NAME` (letters, digits, _ and -)");
        add_stmt(r, STMT_STEP, line)->name = xstrdup(rest);
        *open_step = r->n - 1;
    } else if (strcmp(word, "lmforge") == 0 || strcmp(word, "shell") == 0) {
        if (!step) die_at(r->file, line, "`%s` outside a step: start one with `step NAME`", word);
        if (step->value) die_at(r->file, line, "step \"%s\" already has its command (line %d)", step->name, step->line);
        if (!*rest) die_at(r->file, line, "`%s` needs a command", word);
        step->step_kind = word[0] == 'l' ? STEP_LMFORGE : STEP_SHELL;
        step->value = xstrdup(rest);
        step->command_line = line;
    } else if (strcmp(word, "output") == 0) {
        if (!step) die_at(r->file, line, "`output` outside a step: start one with `step NAME`");
        if (!*rest) die_at(r->file, line, "`output` needs a path");
        step->outputs = xrealloc(step->outputs, sizeof(char *) * (size_t)(step->n_outputs + 1));
        step->output_lines = xrealloc(step->output_lines, sizeof(int) * (size_t)(step->n_outputs + 1));
        step->output_lines[step->n_outputs] = line;
        step->outputs[step->n_outputs++] = xstrdup(rest);
    } else if (strcmp(word, "repeat") == 0) {
        if (*open_repeat >= 0)
            die_at(r->file, line, "repeat blocks do not nest (the block of line %d is still open)",
                       r->stmts[*open_repeat].line);
        if (!*rest) die_at(r->file, line, "expected `repeat N`");
        add_stmt(r, STMT_REPEAT, line)->value = xstrdup(rest);
        *open_repeat = r->n - 1;
        *open_step = -1;
    } else if (strcmp(word, "end") == 0) {
        if (*open_repeat < 0) die_at(r->file, line, "`end` without `repeat`");
        if (*rest) die_at(r->file, line, "unexpected text after `end`");
        r->stmts[*open_repeat].body_end = r->n;
        *open_repeat = -1;
        *open_step = -1;
    } else {
        die_at(r->file, line, "unknown statement \"%s\" (set, step, lmforge, shell, output, repeat, end)", word);
    }
}

static void check_step_complete(const Recipe *r, int open_step) {
    if (open_step >= 0 && !r->stmts[open_step].value)
        die_at(r->file, r->stmts[open_step].line, "step \"%s\" has no command (an `lmforge ...` or `shell ...` line)",
                   r->stmts[open_step].name);
}

/* Feeds parse_line the logical lines of text: a line ending in \ joined to
 * the next, surrounding space trimmed, blank lines and comments skipped. */
static Recipe parse_statements(const char *text, const char *file) {
    Recipe r = {file, NULL, 0};
    int open_step = -1, open_repeat = -1, line_no = 0, first_line = 0;
    char *logical = xmalloc(strlen(text) + 2);
    size_t logical_len = 0;
    for (const char *p = text; *p;) {
        const char *end = strchr(p, '\n');
        if (!end) end = p + strlen(p);
        size_t len = (size_t)(end - p);
        if (len && p[len - 1] == '\r') len--;
        int continues = len && p[len - 1] == '\\';
        if (logical_len == 0) first_line = line_no + 1;
        line_no++;
        memcpy(logical + logical_len, p, continues ? len - 1 : len);
        logical_len += continues ? len - 1 : len;
        if (continues) logical[logical_len++] = ' ';
        p = *end ? end + 1 : end;
        if (continues && *p) continue;

        logical[logical_len] = 0;
        logical_len = 0;
        char *s = logical, *e = logical + strlen(logical);
        while (*s && isspace((unsigned char)*s)) s++;
        while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
        if (!*s || *s == '#') continue;
        int before = open_step;
        parse_line(&r, s, first_line, &open_step, &open_repeat);
        if (before >= 0 && open_step != before) check_step_complete(&r, before);
    }
    free(logical);
    check_step_complete(&r, open_step);
    if (open_repeat >= 0) die_at(file, r.stmts[open_repeat].line, "`repeat` without its `end`");
    if (r.n == 0) die("%s: the recipe has no steps", file);
    return r;
}

static void free_statements(Recipe *r) {
    for (int i = 0; i < r->n; i++) {
        free(r->stmts[i].name);
        free(r->stmts[i].value);
        for (int k = 0; k < r->stmts[i].n_outputs; k++) free(r->stmts[i].outputs[k]);
        free(r->stmts[i].outputs);
        free(r->stmts[i].output_lines);
    }
    free(r->stmts);
}

/* ---- pass 2: expansion ---- */

typedef enum { VAR_RECIPE, VAR_OVERRIDE, VAR_FIXED } VarOrigin;

typedef struct {
    char *name, *value;
    VarOrigin origin;
} Var;

typedef struct {
    Var *vars;
    int n;
} Vars;

static Var *find_var(Vars *v, const char *name) {
    for (int i = 0; i < v->n; i++)
        if (strcmp(v->vars[i].name, name) == 0) return &v->vars[i];
    return NULL;
}

static void set_var(Vars *v, const char *name, const char *value, VarOrigin origin) {
    Var *x = find_var(v, name);
    if (!x) {
        v->vars = xrealloc(v->vars, sizeof(Var) * (size_t)(v->n + 1));
        x = &v->vars[v->n++];
        x->name = xstrdup(name);
        x->value = NULL;
    }
    free(x->value);
    x->value = xstrdup(value);
    x->origin = origin;
}

/* s with every ${NAME} replaced by its value. */
/* The "}" that closes the variable starting at s ("${"); a name may itself
 * hold variables, as in ${data_${source}}. */
static const char *variable_end(const char *s, const char *file, int line) {
    const char *close = s + 2;
    for (int depth = 1; *close; close++) {
        if (close[0] == '$' && close[1] == '{') depth++, close++;
        else if (*close == '}' && --depth == 0) return close;
    }
    die_at(file, line, "\"${\" without its closing \"}\"");
}

static char *expand(Vars *v, const char *s, const char *file, int line) {
    size_t cap = strlen(s) + 64, len = 0;
    char *out = xmalloc(cap);
    while (*s) {
        const char *piece = s;
        size_t piece_len = 1;
        char *value = NULL;
        if (s[0] == '$' && s[1] == '{') {
            const char *close = variable_end(s, file, line);
            char *name = xstrndup(s + 2, (size_t)(close - s - 2));
            if (strstr(name, "${")) {
                char *inner = expand(v, name, file, line);
                free(name);
                name = inner;
            }
            Var *x = find_var(v, name);
            if (!x)
                die_at(file, line, "unknown variable ${%s} (define it with `set %s = ...` or --set %s=...)%s", name,
                           name, name, strcmp(name, "round") == 0 || strcmp(name, "prev") == 0 ? " (only inside repeat)" : "");
            free(name);
            value = x->value;
            piece = value;
            piece_len = strlen(value);
            s = close + 1;
        } else {
            s++;
        }
        if (len + piece_len + 1 > cap) {
            cap = 2 * (len + piece_len + 1);
            out = xrealloc(out, cap);
        }
        memcpy(out + len, piece, piece_len);
        len += piece_len;
    }
    out[len] = 0;
    return out;
}

/* Splits an lmforge line into words as sh does: at spaces; '...' and
 * "..." group (\" and \\ inside double quotes); a variable outside quotes
 * splits at the spaces of its value (so `${flags}` may hold several
 * arguments, and an empty one none), a variable inside quotes stays one word. */
typedef struct {
    char **words;
    int n;
    char *word; /* the word being built */
    size_t len, cap;
    int started; /* a word has begun (even an empty "") */
} Words;

static void words_append(Words *w, const char *s, size_t n) {
    if (w->len + n + 1 > w->cap) {
        w->cap = 2 * (w->len + n + 1);
        w->word = xrealloc(w->word, w->cap);
    }
    memcpy(w->word + w->len, s, n);
    w->len += n;
    w->started = 1;
}

static void words_end(Words *w) {
    if (!w->started) return;
    w->words = xrealloc(w->words, sizeof(char *) * (size_t)(w->n + 2));
    w->words[w->n++] = xstrndup(w->word ? w->word : "", w->len);
    w->words[w->n] = NULL;
    w->len = 0;
    w->started = 0;
}

static char **split_words(Vars *v, const char *s, const char *file, int line, int *n_out) {
    Words w = {0};
    while (*s) {
        if (isspace((unsigned char)*s)) {
            words_end(&w);
            s++;
        } else if (*s == '\'' || *s == '"') {
            char quote = *s++;
            const char *close = s;
            char *text = xmalloc(strlen(s) + 1);
            size_t len = 0;
            while (*close && *close != quote) {
                if (quote == '"' && *close == '\\' && (close[1] == '"' || close[1] == '\\')) close++;
                text[len++] = *close++;
            }
            if (!*close) die_at(file, line, "unterminated %c quote", quote);
            text[len] = 0;
            char *value = expand(v, text, file, line);
            words_append(&w, value, strlen(value));
            free(value);
            free(text);
            s = close + 1;
        } else if (s[0] == '$' && s[1] == '{') {
            const char *close = variable_end(s, file, line);
            char *name = xstrndup(s, (size_t)(close + 1 - s));
            char *value = expand(v, name, file, line);
            for (const char *c = value; *c; c++) {
                if (isspace((unsigned char)*c))
                    words_end(&w);
                else
                    words_append(&w, c, 1);
            }
            free(value);
            free(name);
            s = close + 1;
        } else {
            words_append(&w, s++, 1);
        }
    }
    words_end(&w);
    free(w.word);
    if (!w.words) w.words = xcalloc(1, sizeof(char *));
    *n_out = w.n;
    return w.words;
}

/* The command line of an lmforge step for display and change detection:
 * words with spaces or quotes are quoted. */
static char *join_words(char **words, int n) {
    size_t len = strlen("lmforge") + 1;
    for (int i = 0; i < n; i++) len += 4 * strlen(words[i]) + 3; /* a quote becomes '\'' (4); two quotes, a space */
    char *out = xmalloc(len), *p = stpcpy(out, "lmforge");
    for (int i = 0; i < n; i++) {
        int plain = words[i][0] && !strpbrk(words[i], " \t'\"\\$");
        *p++ = ' ';
        if (plain) {
            p = stpcpy(p, words[i]);
            continue;
        }
        *p++ = '\'';
        for (const char *c = words[i]; *c; c++) {
            if (*c == '\'') p = stpcpy(p, "'\\''");
            else *p++ = *c;
        }
        *p++ = '\'';
    }
    *p = 0;
    return out;
}

static void add_step(Plan *plan, const Stmt *s, Vars *v, int round, const char *file) {
    plan->steps = xrealloc(plan->steps, sizeof(PlanStep) * (size_t)(plan->n + 1));
    PlanStep *p = &plan->steps[plan->n++];
    memset(p, 0, sizeof *p);
    p->name = xstrdup(s->name);
    p->round = round;
    p->key = round ? xsprintf("%s.r%d", s->name, round) : xstrdup(s->name);
    p->kind = s->step_kind;
    p->line = s->line;
    for (int i = 0; i < plan->n - 1; i++)
        if (strcmp(plan->steps[i].key, p->key) == 0)
            die_at(file, s->line, "a step named \"%s\" already exists (line %d)", p->key, plan->steps[i].line);
    if (p->kind == STEP_LMFORGE) {
        p->args = split_words(v, s->value, file, s->command_line, &p->n_args);
        p->command = join_words(p->args, p->n_args);
    } else {
        p->command = expand(v, s->value, file, s->command_line);
    }
    p->n_outputs = s->n_outputs;
    p->outputs = xcalloc((size_t)LMF_MAX(1, s->n_outputs), sizeof(char *));
    for (int k = 0; k < s->n_outputs; k++) p->outputs[k] = expand(v, s->outputs[k], file, s->output_lines[k]);
}

static void run_set(const Stmt *s, Vars *v, const char *file) {
    Var *x = find_var(v, s->name);
    if (x && x->origin == VAR_OVERRIDE) return; /* given on the command line: it wins over the recipe */
    if (x && x->origin == VAR_FIXED)
        die_at(file, s->line, "${%s} cannot be set in a recipe (it is given by %s)", s->name,
                   strcmp(s->name, "round") == 0 || strcmp(s->name, "prev") == 0 ? "repeat" : "lmforge pipeline");
    char *value = expand(v, s->value, file, s->line);
    set_var(v, s->name, value, VAR_RECIPE);
    free(value);
}

static void walk(const Recipe *r, int from, int to, Vars *v, int round, Plan *plan) {
    for (int i = from; i < to; i++) {
        const Stmt *s = &r->stmts[i];
        if (s->kind == STMT_SET) {
            run_set(s, v, r->file);
        } else if (s->kind == STMT_STEP) {
            add_step(plan, s, v, round, r->file);
        } else {
            char *count = expand(v, s->value, r->file, s->line), *end;
            long n = strtol(count, &end, 10);
            if (*end || end == count || n < 1 || n > 1000)
                die_at(r->file, s->line, "repeat %s: expected a number of rounds from 1 to 1000", count);
            free(count);
            for (int k = 1; k <= n; k++) {
                char num[16];
                snprintf(num, sizeof num, "%d", k);
                set_var(v, "round", num, VAR_FIXED);
                snprintf(num, sizeof num, "%d", k - 1);
                set_var(v, "prev", num, VAR_FIXED);
                walk(r, i + 1, s->body_end, v, k, plan);
            }
            /* ${round} and ${prev} exist only inside the block */
            for (int j = 0; j < v->n; j++)
                if (strcmp(v->vars[j].name, "round") == 0 || strcmp(v->vars[j].name, "prev") == 0) {
                    free(v->vars[j].name);
                    free(v->vars[j].value);
                    v->vars[j--] = v->vars[--v->n];
                }
            i = s->body_end - 1;
        }
    }
}

Plan recipe_parse(const char *text, const char *name, const RecipeVar *vars, int n_vars) {
    Recipe r = parse_statements(text, name);
    Vars v = {0};
    for (int i = 0; i < n_vars; i++) set_var(&v, vars[i].name, vars[i].value, vars[i].is_override ? VAR_OVERRIDE : VAR_FIXED);
    Plan plan = {0};
    walk(&r, 0, r.n, &v, 0, &plan);
    if (plan.n == 0) die("%s: the recipe has no steps", name);
    for (int i = 0; i < v.n; i++) {
        free(v.vars[i].name);
        free(v.vars[i].value);
    }
    free(v.vars);
    free_statements(&r);
    return plan;
}

Plan recipe_load(const char *path, const RecipeVar *vars, int n_vars) {
    char *text = read_file(path, NULL);
    Plan p = recipe_parse(text, path, vars, n_vars);
    free(text);
    return p;
}

void plan_free(Plan *p) {
    for (int i = 0; i < p->n; i++) {
        PlanStep *s = &p->steps[i];
        free(s->name);
        free(s->key);
        for (int k = 0; k < s->n_args; k++) free(s->args[k]);
        free(s->args);
        free(s->command);
        for (int k = 0; k < s->n_outputs; k++) free(s->outputs[k]);
        free(s->outputs);
    }
    free(p->steps);
    memset(p, 0, sizeof *p);
}
