/*
 * test_lineproto.c: the line protocol front end (ingest/lineproto/) on
 * hand-written bodies: the spec's examples, every escape, every type and
 * its range edges, precisions, timestamps and their range, the default
 * name rule and templates, the quality field, errors naming the right
 * line and column, the limits. Every check compares exact values (names
 * byte for byte, values bit for bit).
 */
#include <math.h>
#include <string.h>

#include "check.h"
#include "ingest/lineproto/hist_lineproto.h"
#include "storage/hist_storage.h"

#define NOW INT64_C(1767225600123456789) /* 2026-01-01T00:00:00.123456789Z */

static hist_lp_result R;
static hist_lp_options O;

static int parse_p(const char *body, hist_lp_precision prec)
{
    return hist_lp_parse(&O, prec, NOW, body, strlen(body), &R);
}

static int parse(const char *body)
{
    return parse_p(body, HIST_LP_NS);
}

static void reset_options(void)
{
    memset(&O, 0, sizeof O);
}

static const hist_lp_point *pt(size_t i)
{
    return i < R.npoints ? &R.points[i] : NULL;
}

static bool name_is(size_t i, const char *name)
{
    const hist_lp_point *p = pt(i);
    return p && strcmp(p->name, name) == 0 && p->name_len == strlen(name);
}

static bool float_is(size_t i, double v)
{
    const hist_lp_point *p = pt(i);
    hist_value x = {.f = v};
    return p && p->type == HIST_TYPE_FLOAT64 && p->v.bits == x.bits;
}

static bool int_is(size_t i, int64_t v)
{
    const hist_lp_point *p = pt(i);
    return p && p->type == HIST_TYPE_INT64 && p->v.i == v;
}

static bool bool_is(size_t i, bool v)
{
    const hist_lp_point *p = pt(i);
    return p && p->type == HIST_TYPE_BOOL && p->v.i == (v ? 1 : 0);
}

/* One line with one field "v" at ts 0: its float value. */
static void check_float(const char *text, double want)
{
    char body[256];
    snprintf(body, sizeof body, "m v=%s 0", text);
    int rc = parse(body);
    CHECKF(rc == 0 && R.npoints == 1 && float_is(0, want), "%s: rc %d, %s", text, rc, R.error.msg);
}

static void check_refused(const char *body, int code, uint32_t line, uint32_t col)
{
    int rc = parse(body);
    CHECKF(rc == code && R.error.code == code && R.error.line == line && R.error.column == col,
           "'%s': rc %d, error %d at %u:%u (%s)", body, rc, R.error.code, R.error.line,
           R.error.column, R.error.msg);
}

static void test_spec_examples(void)
{
    reset_options();
    CHECK_OK(parse("myMeasurement,tag1=value1,tag2=value2 fieldKey=1.5 1556813561098000000\n"));
    CHECK(R.npoints == 1 && name_is(0, "value1/value2/myMeasurement/fieldKey"));
    CHECK(float_is(0, 1.5) && pt(0)->ts == INT64_C(1556813561098000000) && pt(0)->quality == 0);
    CHECK(pt(0)->line == 1);

    /* the brief's example: tags not sorted by the client */
    CHECK_OK(parse("temp,site=north,line=l1 value=21.5"));
    CHECK(R.npoints == 1 && name_is(0, "l1/north/temp/value") && float_is(0, 21.5));
    CHECK(pt(0)->ts == NOW); /* no timestamp: now (ns precision) */

    /* several fields, all types, comments, blank lines, CRLF */
    CHECK_OK(parse("# a comment\n\n   \ncpu,host=h1,cpu=cpu0 usage_user=1.5,usage_system=2i,"
                   "up=true,n=7u 1767225600000000000\r\n  # indented comment\r\n"
                   "cpu,cpu=cpu1,host=h1 usage_user=-0.25 1767225600000000001\n"));
    CHECK(R.npoints == 5 && R.lines == 2);
    CHECK(name_is(0, "cpu0/h1/cpu/usage_user") && float_is(0, 1.5));
    CHECK(name_is(1, "cpu0/h1/cpu/usage_system") && int_is(1, 2));
    CHECK(name_is(2, "cpu0/h1/cpu/up") && bool_is(2, true));
    CHECK(name_is(3, "cpu0/h1/cpu/n") && int_is(3, 7));
    CHECK(name_is(4, "cpu1/h1/cpu/usage_user") && float_is(4, -0.25));
    CHECK(pt(4)->ts == INT64_C(1767225600000000001) && pt(4)->line == 6);
    CHECK(pt(0)->line == 4);

    /* no tags; several spaces between sections; trailing spaces */
    CHECK_OK(parse("m   f=1    5   \n"));
    CHECK(R.npoints == 1 && name_is(0, "m/f") && float_is(0, 1) && pt(0)->ts == 5);
    /* an empty body, only comments */
    CHECK(parse("") == 0 && R.npoints == 0 && R.lines == 0);
    CHECK(parse("# x\n#y\r\n\n") == 0 && R.npoints == 0 && R.lines == 0);
}

static void test_escapes(void)
{
    reset_options();
    /* measurement: comma and space */
    CHECK_OK(parse("my\\,meas\\ x f=1 0"));
    CHECK(name_is(0, "my,meas x/f"));
    /* in a measurement '=' is not escapable: the backslash stays */
    CHECK_OK(parse("a\\=b f=1 0"));
    CHECK(name_is(0, "a\\=b/f"));
    /* tag keys and values, field keys: comma, equals, space */
    CHECK_OK(parse("m,k\\ 1\\,\\==v\\ 1\\,\\=x f\\ 1\\,\\==2i 0"));
    CHECK(name_is(0, "v 1,=x/m/f 1,=") && int_is(0, 2));
    /* a backslash before anything else is itself; "\\\\" is two */
    CHECK_OK(parse("m\\a,t=x\\y f\\\\g=1 0"));
    CHECK(name_is(0, "x\\y/m\\a/f\\\\g"));
    /* "\\\\," : a backslash, then an escaped comma */
    CHECK_OK(parse("m,t=a\\\\\\,b f=1 0"));
    CHECK(name_is(0, "a\\\\,b/m/f"));
    /* string values: \" and \\ inside, refused as values but parsed */
    CHECK_OK(parse("m s=\"a \\\"quoted\\\" \\\\ , = string\",f=1 0"));
    CHECK(R.npoints == 1 && name_is(0, "m/f") && R.refused == 1 && R.refused_strings == 1);
    /* a string holding a newline: the line goes on (line numbers follow) */
    CHECK_OK(parse("m s=\"two\nlines\",f=3 0\nm g=4 0"));
    CHECK(R.npoints == 2 && name_is(0, "m/f") && float_is(0, 3) && pt(1)->line == 3);
    /* UTF-8 names */
    CHECK_OK(parse("température,zone=Zürich wert=1 0"));
    CHECK(name_is(0, "Zürich/température/wert"));
    /* a '/' in a tag value adds a level */
    CHECK_OK(parse("m,t=a/b f=1 0"));
    CHECK(name_is(0, "a/b/m/f"));
}

static void test_floats(void)
{
    reset_options();
    check_float("1", 1.0);
    check_float("1.", 1.0);
    check_float(".5", 0.5);
    check_float("-1e3", -1000.0);
    check_float("1E+3", 1000.0);
    check_float("2.5e-3", 0.0025);
    check_float("1e308", 1e308);
    check_float("1.7976931348623157e308", 1.7976931348623157e308);
    check_float("-0", -0.0);
    check_float("-0.0", -0.0);
    check_float("0", 0.0);
    check_float("4.9406564584124654e-324", 4.9406564584124654e-324);
    check_float("1e-400", 0.0); /* underflow: 0, as strtod and Go give it */
    check_float("0.1", 0.1);
    check_float("3.141592653589793", 3.141592653589793);
    check_float("123456789012345678901234567890", 123456789012345678901234567890.0);
    check_float("0.000000000000000000000000000001", 1e-30);
    check_float("9007199254740993", 9007199254740993.0); /* 2^53 + 1: rounds to even */
    check_float("00012.50", 12.5);
    /* -0 keeps its sign bit */
    CHECK(parse("m v=-0 0") == 0 && R.npoints == 1 && signbit(pt(0)->v.f));
    /* refused as InfluxDB does: NaN, infinity, out of range, bad forms */
    check_refused("m v=NaN 0", HIST_EPROTO, 1, 5);
    check_refused("m v=-inf 0", HIST_EPROTO, 1, 5);
    check_refused("m v=inf 0", HIST_EPROTO, 1, 5);
    check_refused("m v=1e309 0", HIST_ERANGE, 1, 5);
    check_refused("m v=-1.8e308 0", HIST_ERANGE, 1, 5);
    check_refused("m v=1e 0", HIST_EPROTO, 1, 5);
    check_refused("m v=. 0", HIST_EPROTO, 1, 5);
    check_refused("m v=- 0", HIST_EPROTO, 1, 5);
    check_refused("m v=1.2.3 0", HIST_EPROTO, 1, 5);
    check_refused("m v=0x10 0", HIST_EPROTO, 1, 5);
    check_refused("m v=+1 0", HIST_EPROTO, 1, 5);
    check_refused("m v=1_000 0", HIST_EPROTO, 1, 5);
}

static void test_integers_and_booleans(void)
{
    reset_options();
    CHECK(parse("m a=9223372036854775807i,b=-9223372036854775808i,c=0i,d=-0i 0") == 0);
    CHECK(R.npoints == 4 && int_is(0, INT64_MAX) && int_is(1, INT64_MIN) && int_is(2, 0) &&
          int_is(3, 0));
    check_refused("m a=9223372036854775808i 0", HIST_ERANGE, 1, 5);
    check_refused("m a=-9223372036854775809i 0", HIST_ERANGE, 1, 5);
    check_refused("m a=1.5i 0", HIST_EPROTO, 1, 5);
    check_refused("m a=i 0", HIST_EPROTO, 1, 5);
    /* unsigned: int64 where it fits, else that field is refused */
    CHECK(parse("m a=9223372036854775807u,b=9223372036854775808u,c=18446744073709551615u 0") == 0);
    CHECK(R.npoints == 1 && int_is(0, INT64_MAX) && R.refused == 2);
    CHECK(R.refusal.code == HIST_ERANGE && R.refusal.line == 1 && R.refusal.column == 26);
    CHECK(strstr(R.refusal.msg, "field 'b'") != NULL);
    check_refused("m a=18446744073709551616u 0", HIST_ERANGE, 1, 5);
    check_refused("m a=-1u 0", HIST_EPROTO, 1, 5);
    /* booleans: exactly the spec's ten */
    CHECK(parse("m a=t,b=T,c=true,d=True,e=TRUE,f=f,g=F,h=false,i=False,j=FALSE 0") == 0);
    CHECK(R.npoints == 10);
    for (size_t i = 0; i < 10; i++)
        CHECKF(bool_is(i, i < 5), "boolean %zu", i);
    check_refused("m a=tRUE 0", HIST_EPROTO, 1, 5);
    check_refused("m a=yes 0", HIST_EPROTO, 1, 5);
    check_refused("m a=falsey 0", HIST_EPROTO, 1, 5);
}

static void test_strings(void)
{
    reset_options();
    CHECK(parse("m a=1,s=\"text\",b=2 0\nm c=\"x\" 0") == 0);
    CHECK(R.npoints == 2 && name_is(0, "m/a") && name_is(1, "m/b"));
    CHECK(R.refused == 2 && R.refused_strings == 2);
    CHECK(R.refusal.code == HIST_EUNSUPPORTED && R.refusal.line == 1 && R.refusal.column == 7);
    CHECK(strstr(R.refusal.msg, "field 's'") && strstr(R.refusal.msg, "string"));
    /* strict: the string fails its line */
    O.strict = true;
    CHECK(parse("m a=1\nm a=1,s=\"text\" 0") == HIST_EUNSUPPORTED);
    CHECK(R.error.line == 2 && R.error.column == 7 && R.npoints == 1);
    /* strict and skip_bad_lines: that line is left out, the rest stays */
    O.skip_bad_lines = true;
    CHECK(parse("m a=1 0\nm a=2,s=\"text\" 0\nm a=3 0") == 0);
    CHECK(R.npoints == 2 && float_is(0, 1) && float_is(1, 3) && R.bad_lines == 1);
    CHECK(R.error.line == 2);
    reset_options();
    check_refused("m s=\"open 0", HIST_EPROTO, 1, 5);
}

static void test_timestamps(void)
{
    reset_options();
    /* each precision, at an hour and a day boundary */
    struct {
        const char *ts;
        hist_lp_precision p;
        int64_t want;
    } cases[] = {
        {"1767225600000000000", HIST_LP_NS, INT64_C(1767225600000000000)},
        {"1767225600000000", HIST_LP_US, INT64_C(1767225600000000000)},
        {"1767225600000", HIST_LP_MS, INT64_C(1767225600000000000)},
        {"1767225600", HIST_LP_S, INT64_C(1767225600000000000)},
        {"29453760", HIST_LP_M, INT64_C(1767225600000000000)},
        {"490896", HIST_LP_H, INT64_C(1767225600000000000)},
        {"490897", HIST_LP_H, INT64_C(1767229200000000000)},
        {"-1", HIST_LP_S, INT64_C(-1000000000)},
        {"0", HIST_LP_H, 0},
        {"6311390400000000000", HIST_LP_NS, HIST_TS_MAX},
        {"-6311390400000000000", HIST_LP_NS, HIST_TS_MIN},
        {"6311390400", HIST_LP_S, HIST_TS_MAX},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[128];
        snprintf(body, sizeof body, "m f=1 %s", cases[i].ts);
        int rc = parse_p(body, cases[i].p);
        CHECKF(rc == 0 && R.npoints == 1 && pt(0)->ts == cases[i].want, "%s at %d: rc %d ts %lld",
               cases[i].ts, (int)cases[i].p, rc, R.npoints ? (long long)pt(0)->ts : 0LL);
    }
    /* out of range */
    const char *bad[] = {"6311390400000000001", "-6311390400000000001", "9223372036854775808",
                         "99999999999999999999"};
    for (size_t i = 0; i < 4; i++) {
        char body[128];
        snprintf(body, sizeof body, "m f=1 %s", bad[i]);
        check_refused(body, HIST_ERANGE, 1, 7);
    }
    CHECK(parse_p("m f=1 6311390401", HIST_LP_S) == HIST_ERANGE);
    CHECK(parse_p("m f=1 1753165", HIST_LP_H) == HIST_ERANGE);
    CHECK(parse_p("m f=1 1753164", HIST_LP_H) == 0 && pt(0)->ts == HIST_TS_MAX);
    check_refused("m f=1 12a", HIST_EPROTO, 1, 7);
    check_refused("m f=1 1.5", HIST_EPROTO, 1, 7);
    check_refused("m f=1 1 2", HIST_EPROTO, 1, 9);
    /* no timestamp: now, truncated to the precision */
    CHECK(parse_p("m f=1", HIST_LP_S) == 0 && pt(0)->ts == INT64_C(1767225600000000000));
    CHECK(parse_p("m f=1", HIST_LP_MS) == 0 && pt(0)->ts == INT64_C(1767225600123000000));
    CHECK(parse_p("m f=1", HIST_LP_NS) == 0 && pt(0)->ts == NOW);
    /* precision names */
    hist_lp_precision p;
    CHECK(hist_lp_precision_parse("ns", &p) == 0 && p == HIST_LP_NS);
    CHECK(hist_lp_precision_parse("n", &p) == 0 && p == HIST_LP_NS);
    CHECK(hist_lp_precision_parse("", &p) == 0 && p == HIST_LP_NS);
    CHECK(hist_lp_precision_parse("u", &p) == 0 && p == HIST_LP_US);
    CHECK(hist_lp_precision_parse("us", &p) == 0 && p == HIST_LP_US);
    CHECK(hist_lp_precision_parse("ms", &p) == 0 && p == HIST_LP_MS);
    CHECK(hist_lp_precision_parse("s", &p) == 0 && p == HIST_LP_S);
    CHECK(hist_lp_precision_parse("m", &p) == 0 && p == HIST_LP_M);
    CHECK(hist_lp_precision_parse("h", &p) == 0 && p == HIST_LP_H);
    CHECK(hist_lp_precision_parse("d", &p) == HIST_EINVAL);
    CHECK(hist_lp_parse(&O, HIST_LP_NS, HIST_TS_MAX + 1, "m f=1", 5, &R) == HIST_EINVAL);
}

static void test_names(void)
{
    reset_options();
    hist_lp_template t;
    char err[200];
    /* names that break the tag name rule: that point is refused */
    CHECK(parse("m,t=a//b f=1,g=2 0\nm ok=1 0") == 0);
    CHECK(R.npoints == 1 && name_is(0, "m/ok") && R.refused == 2);
    CHECK(R.refusal.code == HIST_ENAME && R.refusal.line == 1 && R.refusal.column == 10);
    CHECK(parse("m,t=/a f=1 0") == 0 && R.npoints == 0 && R.refused == 1);
    CHECK(parse("m f/=1 0") == 0 && R.npoints == 0 && R.refused == 1);
    /* "//" at every place of a longer name (the check reads 8 pairs at a
     * time), and '/' without a neighbour everywhere */
    for (size_t at = 1; at < 40; at++) {
        char line[80];
        memset(line, 'x', 45);
        line[at] = '/';
        line[at + 1] = '/';
        memcpy(line + 45, " f=1 0", 7);
        CHECKF(parse(line) == 0 && R.npoints == 0 && R.refused == 1, "// at %zu", at);
        line[at + 1] = '.';
        CHECKF(parse(line) == 0 && R.npoints == 1 && R.refused == 0, "/. at %zu", at);
    }
    /* C1 control characters (valid UTF-8) */
    CHECK(parse("m\xc2\x85 f=1 0") == 0 && R.npoints == 0 && R.refusal.code == HIST_ENAME);
    /* 255 bytes is the limit */
    char body[700], name[300];
    memset(name, 'x', 253);
    name[253] = '\0';
    snprintf(body, sizeof body, "%s f=1 0", name);
    CHECK(parse(body) == 0 && R.npoints == 1 && pt(0)->name_len == 255);
    snprintf(body, sizeof body, "%s fg=1 0", name);
    CHECK(parse(body) == 0 && R.npoints == 0 && R.refused == 1);
    /* every name given agrees with storage's own rule */
    CHECK_OK(parse("a,b=c\xc3\xa9,d=e/f g=1 0"));
    CHECK(R.npoints == 1 && hist_tag_name_check(pt(0)->name, pt(0)->name_len) == 0);

    /* templates */
    CHECK(hist_lp_template_parse(&t, "{tag:site}/{measurement}.{field}", err, sizeof err) == 0);
    O.name_template = &t;
    CHECK(parse("temp,site=north,line=l1 value=21.5 0") == 0 && name_is(0, "north/temp.value"));
    /* a required tag missing: that point is refused */
    CHECK(parse("temp,line=l1 value=21.5 0") == 0 && R.npoints == 0 && R.refused == 1);
    CHECK(R.refusal.code == HIST_ENAME && strstr(R.refusal.msg, "tag:KEY"));
    /* optional tags and {tags} (the tags the template does not name) */
    CHECK(hist_lp_template_parse(&t, "plant/{tag?:site}/{tags}/{measurement}/{field}", err,
                                 sizeof err) == 0);
    CHECK(parse("temp,site=north,line=l1,cell=c2 v=1 0") == 0);
    CHECK(name_is(0, "plant/north/c2/l1/temp/v"));
    CHECK(parse("temp,line=l1 v=1 0") == 0 && name_is(0, "plant/l1/temp/v"));
    CHECK(parse("temp v=1 0") == 0 && name_is(0, "plant/temp/v"));
    CHECK(hist_lp_template_parse(&t, "{measurement}/{field}/{tags}", err, sizeof err) == 0);
    CHECK(parse("temp v=1 0") == 0 && name_is(0, "temp/v"));
    CHECK(parse("temp,a=1 v=1 0") == 0 && name_is(0, "temp/v/1"));
    /* braces */
    CHECK(hist_lp_template_parse(&t, "{{x}}/{field}", err, sizeof err) == 0);
    CHECK(parse("m v=1 0") == 0 && name_is(0, "{x}/v"));
    /* a template without {field}: every field of a line gets the same name */
    CHECK(hist_lp_template_parse(&t, "{tags}/{measurement}", err, sizeof err) == 0);
    CHECK(!t.has_field);
    CHECK(parse("temp,s=s1 value=2 0") == 0 && name_is(0, "s1/temp"));
    /* bad templates */
    CHECK(hist_lp_template_parse(&t, "", err, sizeof err) == HIST_EINVAL);
    CHECK(hist_lp_template_parse(&t, "{nope}", err, sizeof err) == HIST_EINVAL);
    CHECK(strstr(err, "byte 1") && strstr(err, "unknown placeholder"));
    CHECK(hist_lp_template_parse(&t, "a/{field", err, sizeof err) == HIST_EINVAL);
    CHECK(hist_lp_template_parse(&t, "a}", err, sizeof err) == HIST_EINVAL);
    CHECK(strstr(err, "byte 2"));
    CHECK(hist_lp_template_parse(&t, "{tag:}", err, sizeof err) == HIST_EINVAL);
    CHECK(hist_lp_template_parse(&t, "a\tb{field}", err, sizeof err) == HIST_EINVAL);
    CHECK(hist_lp_template_parse(&t, "a\xff{field}", err, sizeof err) == HIST_EINVAL);
    O.name_template = NULL;
}

static void test_quality(void)
{
    reset_options();
    /* the table */
    static const struct {
        int64_t da;
        uint32_t ua;
    } table[] = {{192, 0},
                 {195, 0},
                 {216, 0x00960000u},
                 {0, 0x80000000u},
                 {4, 0x80890000u},
                 {8, 0x808A0000u},
                 {12, 0x808B0000u},
                 {16, 0x808C0000u},
                 {20, 0x80310000u},
                 {24, 0x80050000u},
                 {28, 0x808D0000u},
                 {64, 0x40000000u},
                 {68, 0x40900000u},
                 {80, 0x40930000u},
                 {84, 0x40940000u},
                 {88, 0x40950000u},
                 {200, 0},
                 {100, 0x40000000u},
                 {32, 0x80000000u},
                 {150, 0x80000000u},
                 {-1, 0x80000000u},
                 {256, 256},
                 {0x80310000, 0x80310000u},
                 {INT64_C(0x100000000), 0x80000000u}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        CHECKF(hist_quality_from_da(table[i].da) == table[i].ua, "DA %lld", (long long)table[i].da);

    O.quality_field = "quality";
    CHECK(parse("m,t=x value=1.5,quality=192i 0\nm value=2,quality=0i 0\nm value=3 0") == 0);
    CHECK(R.npoints == 3 && name_is(0, "x/m/value") && pt(0)->quality == 0);
    CHECK(pt(1)->quality == 0x80000000u && pt(2)->quality == 0);
    /* before the other fields too, as a float, as u, as a StatusCode */
    CHECK(parse("m quality=64,a=1,b=2i 0") == 0 && R.npoints == 2);
    CHECK(pt(0)->quality == 0x40000000u && pt(1)->quality == 0x40000000u);
    CHECK(parse("m quality=20u,a=1 0") == 0 && pt(0)->quality == 0x80310000u);
    CHECK(parse("m quality=2150694912i,a=1 0") == 0 && pt(0)->quality == 0x80310000u);
    /* Telegraf's OPC UA input: a string ending in (0xHEX) */
    CHECK(parse("opcua,id=ns\\=2;s\\=T1 T1=3.5,Quality=\"OK (0x0)\" 0") == 0);
    CHECK(R.npoints == 1 && R.refused == 1); /* not the quality field by this name */
    O.quality_field = "Quality";
    CHECK(parse("opcua,id=ns\\=2;s\\=T1 T1=3.5,Quality=\"OK (0x0)\" 0") == 0);
    CHECK(R.npoints == 1 && R.refused == 0 && pt(0)->quality == 0 &&
          name_is(0, "ns=2;s=T1/opcua/T1"));
    CHECK(parse("opcua T1=3.5,Quality=\"The value is bad (0x80310000)\" 0") == 0);
    CHECK(R.npoints == 1 && pt(0)->quality == 0x80310000u);
    /* a quality field that is not a quality: the line's fields are refused */
    CHECK(parse("m a=1,Quality=1.5 0\nm a=2,Quality=true 0\nm a=3,Quality=\"bad\" 0") == 0);
    CHECK(R.npoints == 0 && R.refused == 3 && R.refusal.code == HIST_EINVAL);
    O.quality_field = NULL;
}

static void test_errors(void)
{
    reset_options();
    check_refused("m\n,t=1 f=1", HIST_EPROTO, 1, 2);
    check_refused("m f=1\nm,t=1 f=1\n m,=1 f=1", HIST_EPROTO, 3, 4);
    check_refused("m,t f=1", HIST_EPROTO, 1, 4);
    check_refused("m,t= f=1", HIST_EPROTO, 1, 5);
    check_refused("m, f=1", HIST_EPROTO, 1, 3);
    check_refused("m,t=a=b f=1", HIST_EPROTO, 1, 6);
    check_refused("m,t=a", HIST_EPROTO, 1, 6);
    check_refused("m", HIST_EPROTO, 1, 2);
    check_refused("m ", HIST_EPROTO, 1, 3);
    check_refused("m f", HIST_EPROTO, 1, 4);
    check_refused("m f=", HIST_EPROTO, 1, 5);
    check_refused("m f=1,", HIST_EPROTO, 1, 7);
    check_refused("m f=1, g=2", HIST_EPROTO, 1, 7);
    check_refused("m =1", HIST_EPROTO, 1, 3);
    check_refused("m f=\"s\"x", HIST_EPROTO, 1, 8);
    check_refused("m f=@", HIST_EPROTO, 1, 5);
    check_refused(",t=1 f=1", HIST_EPROTO, 1, 1);
    check_refused("m,t=1,t=2 f=1", HIST_EPROTO, 1, 7);
    check_refused("m,b=1,a=2,b=3 f=1", HIST_EPROTO, 1, 11);
    check_refused("m\tx f=1", HIST_EPROTO, 1, 2);
    check_refused("m\rx f=1", HIST_EPROTO, 1, 2);
    check_refused("m,t=\xff f=1", HIST_EPROTO, 1, 5);
    check_refused("m f\x01=1", HIST_EPROTO, 1, 4);
    /* the message: InfluxDB's shape, with line and column */
    CHECK(parse("cpu value=1\ncpu,host=a value=") == HIST_EPROTO);
    CHECK(strcmp(R.error.msg, "line 2, column 18: unable to parse 'cpu,host=a value=': a field "
                              "value is expected after '='") == 0);
    CHECK(R.npoints == 1); /* the lines before it */
    /* a long line is quoted cut; bytes that are not text are '?' */
    CHECK(parse("m\x01 f=1") == HIST_EPROTO && strstr(R.error.msg, "'m? f=1'"));
    char body[300];
    memset(body, 'a', 200);
    memcpy(body + 200, " f=x", 5);
    CHECK(parse(body) == HIST_EPROTO && strstr(R.error.msg, "aaa...': ") && R.error.column == 204);
    /* skip_bad_lines: each bad line left out, counted, the first kept */
    O.skip_bad_lines = true;
    CHECK(parse("m a=1 0\nbad\nm a=2 0\nm a=x 0\nm a=3 0") == 0);
    CHECK(R.npoints == 3 && R.bad_lines == 2 && R.lines == 5 && R.error.line == 2);
    CHECK(float_is(0, 1) && float_is(1, 2) && float_is(2, 3));
    /* a bad field late in a line takes the line's earlier fields with it */
    CHECK(parse("m a=1,b=2,c=x 0\nm d=4 0") == 0 && R.npoints == 1 && name_is(0, "m/d"));
}

static void test_limits(void)
{
    reset_options();
    O.max_line = 10;
    CHECK(parse("m f=1 1234\n") == 0);                  /* 10 bytes */
    check_refused("m f=1 12345\n", HIST_ETOOBIG, 1, 1); /* 11 */
    CHECK(parse("m f=1 1234\r\n") == 0);                /* the CR is not counted */
    check_refused("# 345678901\n", HIST_ETOOBIG, 1, 1);
    O.skip_bad_lines = true;
    CHECK(parse("m f=1 12345\nm f=2 0") == 0 && R.npoints == 1 && R.bad_lines == 1);
    /* a string over lines counts as one line */
    O.max_line = 12;
    O.skip_bad_lines = false;
    CHECK(parse("m s=\"a\nbcdefgh\" 0") == HIST_ETOOBIG);
    O.max_line = 0;
    O.max_points = 3;
    CHECK(parse("m a=1,b=2,c=3 0") == 0 && R.npoints == 3);
    CHECK(parse("m a=1,b=2\nm c=3,d=4") == HIST_ETOOBIG && R.error.line == 2 &&
          R.error.column == 7);
    O.skip_bad_lines = true; /* the points limit ends the body in every mode */
    CHECK(parse("m a=1,b=2\nm c=3,d=4\nm e=5") == HIST_ETOOBIG);
    /* memory: reused between calls (a second parse of the same body does
     * not grow anything) */
    reset_options();
    char *big = malloc(100 * 40 + 1);
    REQUIRE(big);
    size_t k = 0;
    for (int i = 0; i < 100; i++)
        k += (size_t)sprintf(big + k, "cpu,host=h%d v=%d,w=%di %d\n", i % 10, i, i, i);
    CHECK(hist_lp_parse(&O, HIST_LP_NS, NOW, big, k, &R) == 0 && R.npoints == 200);
    size_t cap = R.cap, names_cap = R.names_cap;
    CHECK(hist_lp_parse(&O, HIST_LP_NS, NOW, big, k, &R) == 0 && R.npoints == 200);
    CHECK(R.cap == cap && R.names_cap == names_cap);
    CHECK(name_is(199, "h9/cpu/w") && int_is(199, 99) && pt(199)->ts == 99);
    free(big);
}

/* strict_but_strings (the HTTP writes' mode): a string field is left out
 * and counted, every other refusal (a name the template cannot make, an
 * unsigned over int64) is an error of its line. */
static void test_strict_but_strings(void)
{
    hist_lp_template t;
    char err[128];
    CHECK(hist_lp_template_parse(&t, "{tag:site}/{field}", err, sizeof err) == 0);
    hist_lp_options o = {.name_template = &t, .strict_but_strings = true};
    const char *ok = "m,site=a v=1,s=\"text\" 1\n";
    CHECK(hist_lp_parse(&o, HIST_LP_NS, 0, ok, strlen(ok), &R) == 0);
    CHECK(R.npoints == 1 && R.refused == 1 && R.refused_strings == 1);
    const char *noname = "m,site=a v=1 1\nm v=2 2\n";
    CHECK(hist_lp_parse(&o, HIST_LP_NS, 0, noname, strlen(noname), &R) == HIST_ENAME);
    CHECK(R.error.line == 2 && strstr(R.error.msg, "{tag:KEY}"));
    hist_lp_options d = {.strict_but_strings = true};
    const char *big = "m v=9223372036854775808u 1\n";
    CHECK(hist_lp_parse(&d, HIST_LP_NS, 0, big, strlen(big), &R) == HIST_ERANGE);
    CHECK(R.error.line == 1);
}

int main(void)
{
    hist_lp_result_init(&R);
    test_spec_examples();
    test_escapes();
    test_floats();
    test_integers_and_booleans();
    test_strings();
    test_timestamps();
    test_names();
    test_quality();
    test_errors();
    test_limits();
    test_strict_but_strings();
    hist_lp_result_free(&R);
    return check_summary();
}
