/*
 * test_api_tags.c: the tag namespace through the API and the storage door:
 * GET /api/v1/tags?level=1 (one level: leaves beside folders, a name that
 * is both, segments whose keys interleave with a folder's, paging, a prefix
 * with and without its '/', empty answers, bad requests), and
 * hist_tag_children / hist_tag_foreach_from checked against a brute force
 * over random names.
 */
#include "api_fixture.h"

/* Besides the fixture's site1/..., site2/...: "pump" is a tag and a
 * folder; "pump-2" and "pump.1" sort between "pump" and "pump/" as keys;
 * "a" is a folder whose keys ("a/y") come after those of "a.b". */
static const char *const PLANT[] = {
    "plant/pump",    "plant/pump/speed", "plant/pump-2", "plant/pump.1/flow",
    "plant/pump0/x", "plant/valve",      "plant/a.b/x",  "plant/a/y",
};
static const char *const PLANT_LEVEL[] = {"plant/a",      "plant/a.b",    "plant/pump",
                                          "plant/pump-2", "plant/pump.1", "plant/pump0",
                                          "plant/valve"};
static const int PLANT_FLAGS[] = {2, 2, 3, 1, 2, 2, 1}; /* 1: a tag, 2: children */

static void add_tags(const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t id;
        CHECK_OK(hist_tag_resolve(db, names[i], strlen(names[i]), HIST_TYPE_FLOAT64, true, &id));
    }
}

/* The level answer's names joined by ' ', and its flags as digits. */
static void level_of(const answer *a, char *names, char *flags, size_t cap)
{
    names[0] = flags[0] = '\0';
    for (size_t i = 0; i < json_array_size(a->json); i++) {
        json_t *o = json_array_get(a->json, i);
        size_t l = strlen(names);
        snprintf(names + l, cap - l, "%s%s", l ? " " : "",
                 json_string_value(json_object_get(o, "name")));
        l = strlen(flags);
        snprintf(flags + l, cap - l, "%d",
                 (json_is_true(json_object_get(o, "tag")) ? 1 : 0) |
                     (json_is_true(json_object_get(o, "children")) ? 2 : 0));
    }
}

static void test_level(void)
{
    char names[1024], flags[64], want[1024], wflags[64];
    want[0] = wflags[0] = '\0';
    for (size_t i = 0; i < sizeof PLANT_LEVEL / sizeof PLANT_LEVEL[0]; i++) {
        size_t l = strlen(want);
        snprintf(want + l, sizeof want - l, "%s%s", l ? " " : "", PLANT_LEVEL[i]);
        l = strlen(wflags);
        snprintf(wflags + l, sizeof wflags - l, "%d", PLANT_FLAGS[i]);
    }
    /* With and without the trailing '/'. */
    const char *prefixes[] = {"plant/", "plant"};
    for (int p = 0; p < 2; p++) {
        answer a = get("/api/v1/tags", "prefix=%s&level=1", prefixes[p]);
        CHECKF(a.r.status == 200, "%d %s", a.r.status, a.r.body);
        level_of(&a, names, flags, sizeof names);
        CHECKF(!strcmp(names, want), "prefix %s: %s", prefixes[p], names);
        CHECKF(!strcmp(flags, wflags), "prefix %s: flags %s, want %s", prefixes[p], flags, wflags);
        char h[64];
        CHECK(header(&a, "X-Historian-Next", h, sizeof h) == NULL);
        answer_free(&a);
    }
    /* The root: the sites. */
    answer a = get("/api/v1/tags", "level=1");
    level_of(&a, names, flags, sizeof names);
    CHECKF(!strcmp(names, "plant site1 site2"), "root: %s", names);
    CHECK(!strcmp(flags, "222"));
    answer_free(&a);
    a = get("/api/v1/tags", "prefix=site1/area1/line1/cell1&level=1&format=csv");
    CHECK(a.r.status == 200);
    CHECKF(!strcmp(a.r.body, "name,tag,children\nsite1/area1/line1/cell1/run,true,false\n"
                             "site1/area1/line1/cell1/temp,true,false\n"),
           "%s", a.r.body);
    answer_free(&a);

    /* Pages of 1, then of 2, follow X-Historian-Next to the same list. */
    for (int limit = 1; limit <= 3; limit++) {
        char after[300] = "", all[2048] = "", all_flags[64] = "";
        int pages = 0;
        for (; pages < 20; pages++) {
            a = get("/api/v1/tags", "prefix=plant&level=1&limit=%d&after=%s", limit, after);
            REQUIRE(a.r.status == 200);
            CHECK(json_array_size(a.json) <= (size_t)limit);
            level_of(&a, names, flags, sizeof names);
            size_t l = strlen(all);
            snprintf(all + l, sizeof all - l, "%s%s", l && *names ? " " : "", names);
            l = strlen(all_flags);
            snprintf(all_flags + l, sizeof all_flags - l, "%s", flags);
            char next[300];
            bool more = header(&a, "X-Historian-Next", next, sizeof next) != NULL;
            answer_free(&a);
            if (!more)
                break;
            snprintf(after, sizeof after, "%s", next);
        }
        CHECKF(!strcmp(all, want), "limit %d: %s", limit, all);
        CHECK(!strcmp(all_flags, wflags));
        CHECK_EQ_I64(pages, (7 + limit - 1) / limit - 1); /* the last page has no Next */
    }
    /* after= a name below a child (the child is done), before the level,
     * past it. */
    a = get("/api/v1/tags", "prefix=plant/&level=1&after=plant/pump/speed");
    level_of(&a, names, flags, sizeof names);
    CHECKF(!strcmp(names, "plant/pump-2 plant/pump.1 plant/pump0 plant/valve"), "%s", names);
    answer_free(&a);
    a = get("/api/v1/tags", "prefix=plant/&level=1&after=a");
    CHECK(json_array_size(a.json) == 7);
    answer_free(&a);
    a = get("/api/v1/tags", "prefix=plant/&level=1&after=zzz");
    CHECK(a.r.status == 200 && json_array_size(a.json) == 0);
    answer_free(&a);

    /* Empty answers: an unknown folder, a leaf, a part of a segment. */
    const char *empty[] = {"prefix=nosuch/&level=1", "prefix=plant/valve&level=1",
                           "prefix=plant/pum&level=1",
                           "prefix=site1/area1/line1/cell1/temp/&level=1"};
    for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++) {
        a = get("/api/v1/tags", "%s", empty[i]);
        CHECKF(a.r.status == 200 && json_is_array(a.json) && json_array_size(a.json) == 0,
               "%s: %d %s", empty[i], a.r.status, a.r.body);
        answer_free(&a);
    }
    /* Bad requests. */
    const char *bad[][2] = {{"level=2", "level"},
                            {"level=x", "level"},
                            {"level=1&pattern=**/temp", "pattern"},
                            {"level=1&limit=0", "limit"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        a = get("/api/v1/tags", "%s", bad[i][0]);
        const char *p = json_string_value(json_object_get(a.json, "param"));
        CHECKF(a.r.status == 400 && p && !strcmp(p, bad[i][1]), "%s: %d %s", bad[i][0], a.r.status,
               a.r.body);
        answer_free(&a);
    }
}

/* ---- Against a brute force -------------------------------------------------------- */

#define NRANDOM 400

static char rnd[NRANDOM][64];
static size_t nrnd;

typedef struct {
    char name[HIST_TAG_NAME_MAX + 1];
    int flags;
} child_row;

typedef struct {
    child_row v[NRANDOM + 1];
    size_t n, max;
} child_list;

static int child_visit(void *ctx, const hist_tag_child *c)
{
    child_list *l = ctx;
    if (l->n >= l->max)
        return 1;
    CHECK(strlen(c->name) == c->len);
    snprintf(l->v[l->n].name, sizeof l->v[l->n].name, "%s", c->name);
    l->v[l->n++].flags = (c->tag ? 1 : 0) | (c->children ? 2 : 0);
    return 0;
}

static int row_cmp(const void *a, const void *b)
{
    return strcmp(((const child_row *)a)->name, ((const child_row *)b)->name);
}

/* The children of folder P ("rnd/..."), from the names themselves. */
static void brute_children(const char *P, child_list *out)
{
    size_t pl = strlen(P);
    out->n = 0;
    for (size_t i = 0; i < nrnd; i++) {
        if (strncmp(rnd[i], P, pl))
            continue;
        size_t sl = strcspn(rnd[i] + pl, "/");
        int flag = rnd[i][pl + sl] ? 2 : 1;
        size_t j;
        for (j = 0; j < out->n; j++)
            if (strlen(out->v[j].name) == pl + sl && !strncmp(out->v[j].name, rnd[i], pl + sl))
                break;
        if (j == out->n) {
            snprintf(out->v[j].name, sizeof out->v[j].name, "%.*s", (int)(pl + sl), rnd[i]);
            out->v[out->n++].flags = 0;
        }
        out->v[j].flags |= flag;
    }
    qsort(out->v, out->n, sizeof out->v[0], row_cmp);
}

static void check_folder(const char *P)
{
    static child_list got, page; /* want is per level: the recursion below */
    child_list *want = malloc(sizeof *want);
    REQUIRE(want);
    char folder[HIST_TAG_NAME_MAX + 2];
    snprintf(folder, sizeof folder, "%s%s", P, P[strlen(P) - 1] == '/' ? "" : "/");
    brute_children(folder, want); /* "rnd" is the folder "rnd/" */
    got.n = 0;
    got.max = NRANDOM + 1;
    CHECK_OK(hist_tag_children(db, P, NULL, child_visit, &got));
    CHECKF(got.n == want->n, "%s: %zu children, want %zu", P, got.n, want->n);
    for (size_t i = 0; i < got.n && i < want->n; i++)
        CHECKF(!strcmp(got.v[i].name, want->v[i].name) && got.v[i].flags == want->v[i].flags,
               "%s [%zu]: %s %d, want %s %d", P, i, got.v[i].name, got.v[i].flags, want->v[i].name,
               want->v[i].flags);
    /* One at a time, each after the one before. */
    size_t k = 0;
    char after[HIST_TAG_NAME_MAX + 1] = "";
    for (;; k++) {
        page.n = 0;
        page.max = 1;
        CHECK_OK(hist_tag_children(db, P, k ? after : NULL, child_visit, &page));
        if (page.n == 0)
            break;
        CHECKF(k < want->n && !strcmp(page.v[0].name, want->v[k].name), "%s page %zu: %s", P, k,
               page.v[0].name);
        snprintf(after, sizeof after, "%s", page.v[0].name);
        if (k > want->n)
            break;
    }
    CHECK_EQ_I64((int64_t)k, (int64_t)want->n);
    for (size_t i = 0; i < want->n; i++)
        if (want->v[i].flags & 2) {
            char sub[HIST_TAG_NAME_MAX + 2];
            snprintf(sub, sizeof sub, "%s/", want->v[i].name);
            check_folder(sub);
        }
    free(want);
}

typedef struct {
    const char *after;
    char prev[HIST_TAG_NAME_MAX + 1];
    size_t n, seen;
} walk_check;

static bool ends_in_a(void *ctx, const char *name)
{
    walk_check *w = ctx;
    w->seen++;
    return name[strlen(name) - 1] == 'a';
}

static int walk_visit(void *ctx, const hist_tag_info *t)
{
    walk_check *w = ctx;
    CHECKF(strcmp(t->name, w->prev) > 0, "%s after %s", t->name, w->prev);
    CHECK(!w->after || strcmp(t->name, w->after) > 0);
    CHECK(t->name[strlen(t->name) - 1] == 'a');
    snprintf(w->prev, sizeof w->prev, "%s", t->name);
    w->n++;
    return 0;
}

static void test_random_namespace(void)
{
    const char alphabet[] = "ab-.0";
    srand(11);
    while (nrnd < NRANDOM) {
        char *s = rnd[nrnd];
        size_t l = (size_t)snprintf(s, 64, "rnd");
        int depth = 1 + rand() % 3;
        for (int d = 0; d < depth; d++) {
            s[l++] = '/';
            int sl = 1 + rand() % 3;
            for (int c = 0; c < sl; c++)
                s[l++] = alphabet[rand() % 5];
        }
        s[l] = '\0';
        bool dup = false;
        for (size_t i = 0; i < nrnd && !dup; i++)
            dup = !strcmp(rnd[i], s);
        if (!dup)
            nrnd++;
    }
    for (size_t i = 0; i < nrnd; i++)
        add_tags((const char *const[]){rnd[i]}, 1);
    check_folder("rnd/");
    check_folder("rnd");

    /* foreach_from: every start key, filtered, equals the brute force. */
    for (size_t i = 0; i < nrnd; i += 7) {
        size_t want = 0;
        for (size_t j = 0; j < nrnd; j++)
            want += strcmp(rnd[j], rnd[i]) > 0 && rnd[j][strlen(rnd[j]) - 1] == 'a';
        walk_check w = {.after = rnd[i]};
        CHECK_OK(hist_tag_foreach_from(db, "rnd/", rnd[i], ends_in_a, walk_visit, &w));
        CHECKF(w.n == want, "after %s: %zu, want %zu", rnd[i], w.n, want);
        CHECK(w.seen < nrnd); /* seeks: the names before after are not looked at */
    }
    walk_check w = {0};
    CHECK_OK(hist_tag_foreach_from(db, "rnd/", "a", ends_in_a, walk_visit, &w));
    size_t all = 0;
    for (size_t j = 0; j < nrnd; j++)
        all += rnd[j][strlen(rnd[j]) - 1] == 'a';
    CHECK(w.n == all);
}

int main(void)
{
    fixture_open();
    add_tags(PLANT, sizeof PLANT / sizeof PLANT[0]);
    test_level();
    test_random_namespace();
    fixture_close();
    return check_summary();
}
