/*
 * test_mqtt_broker.c: the codec of ingest/mqtt/ against a real broker,
 * Debian's mosquitto, started here on a free 127.0.0.1 port with a
 * temporary config and stopped by its PID. A small blocking-socket client
 * built on the codec and the ack tracker, for MQTT 3.1.1 and 5:
 *   CONNECT with a fixed client id and a persistent session (clean 0;
 *   v5: session expiry), a retained QoS 1 will, SUBSCRIBE QoS 1 (two
 *   filters); `mosquitto_pub -q 1` publishes N messages; the client
 *   receives them, marks some durable out of order and sends the PUBACKs
 *   the tracker releases (only the leading durable ones), then closes the
 *   socket without DISCONNECT. The will is published (read back with
 *   mosquitto_sub); M more messages are published while it is away. On
 *   reconnect with the same id the session is present and the broker
 *   redelivers exactly the unacked ones, DUP set, in order, then the M
 *   with DUP clear. After acking them all, a third connection gets nothing.
 * Every wait is bounded (5 s a packet, 10 s a process). Skips (exit 77)
 * only when the mosquitto binaries are not installed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "ingest/mqtt/hist_mqtt.h"
#include "loopback.h"

#define WAIT_MS 5000
#define N_FIRST 10 /* published while connected */
#define N_ACKED 4  /* acked before the abrupt close */
#define N_LATE  3  /* published while away */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int find_program(const char *name, char *out, size_t cap)
{
    const char *dirs[] = {"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/sbin"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(out, cap, "%s/%s", dirs[i], name);
        if (access(out, X_OK) == 0)
            return 0;
    }
    return -1;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* ---- the broker ---------------------------------------------------------- */

typedef struct {
    pid_t pid;
    int port;
    char dir[64], log[128], bin[128], pub[128], sub[128];
} broker;

static int broker_start(broker *b)
{
    snprintf(b->dir, sizeof b->dir, "/tmp/test_mqtt-XXXXXX");
    if (!mkdtemp(b->dir))
        return -1;
    char conf[128];
    snprintf(conf, sizeof conf, "%s/mosquitto.conf", b->dir);
    snprintf(b->log, sizeof b->log, "%s/mosquitto.log", b->dir);
    b->port = free_port();
    FILE *f = fopen(conf, "w");
    if (!f || b->port < 0)
        return -1;
    fprintf(f,
            "listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "log_dest stderr\nlog_type all\nmax_inflight_messages 20\n"
            "max_queued_messages 1000\n%s",
            b->port, geteuid() == 0 ? "user root\n" : "");
    fclose(f);
    b->pid = fork();
    if (b->pid < 0)
        return -1;
    if (b->pid == 0) {
        int fd = open(b->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(b->bin, b->bin, "-c", conf, (char *)NULL);
        _exit(127);
    }
    for (uint64_t end = now_ms() + WAIT_MS; now_ms() < end;) {
        int fd = loopback_connect(b->port);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        if (waitpid(b->pid, NULL, WNOHANG) == b->pid) {
            b->pid = 0;
            return -1;
        }
        usleep(20000);
    }
    return -1;
}

static void broker_dump(const broker *b)
{
    char cmd[200];
    snprintf(cmd, sizeof cmd, "tail -40 %s >&2", b->log);
    if (system(cmd) != 0)
        fprintf(stderr, "(no broker log)\n");
}

static void broker_stop(broker *b)
{
    if (b->pid > 0) {
        kill(b->pid, SIGTERM);
        int st;
        uint64_t end = now_ms() + WAIT_MS;
        while (waitpid(b->pid, &st, WNOHANG) == 0) {
            if (now_ms() > end) {
                kill(b->pid, SIGKILL);
                waitpid(b->pid, &st, 0);
                break;
            }
            usleep(10000);
        }
        b->pid = 0;
    }
    if (!b->dir[0])
        return;
    char path[200];
    snprintf(path, sizeof path, "%s/mosquitto.conf", b->dir);
    unlink(path);
    unlink(b->log);
    rmdir(b->dir);
    b->dir[0] = 0;
}

/* waits until the broker's log holds needle */
static int wait_log(const broker *b, const char *needle)
{
    static char text[1 << 20];
    for (uint64_t end = now_ms() + WAIT_MS; now_ms() < end; usleep(20000)) {
        FILE *f = fopen(b->log, "r");
        if (!f)
            continue;
        size_t n = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[n] = 0;
        if (strstr(text, needle))
            return 0;
    }
    return -1;
}

/* Runs argv with `input` on its stdin and its stdout into out (may be
 * NULL), bounded: killed after 10 s. Returns its exit status or -1. */
static int run(char *const argv[], const char *input, char *out, size_t cap)
{
    int in[2], o[2];
    if (pipe(in) != 0 || pipe(o) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(o[1], 1);
        close(in[1]);
        close(o[0]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(in[0]);
    close(o[1]);
    if (input && write(in[1], input, strlen(input)) != (ssize_t)strlen(input))
        fprintf(stderr, "short write to %s\n", argv[0]);
    close(in[1]);
    size_t len = 0;
    uint64_t end = now_ms() + 10000;
    int st = -1;
    for (;;) {
        struct pollfd p = {.fd = o[0], .events = POLLIN};
        if (poll(&p, 1, 50) > 0) {
            char tmp[512];
            ssize_t r = read(o[0], tmp, sizeof tmp);
            if (r > 0 && out) {
                size_t k = (size_t)r < cap - 1 - len ? (size_t)r : cap - 1 - len;
                memcpy(out + len, tmp, k);
                len += k;
            }
            if (r <= 0)
                p.fd = -1;
        }
        if (waitpid(pid, &st, WNOHANG) == pid)
            break;
        if (now_ms() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            st = -1;
            break;
        }
    }
    close(o[0]);
    if (out)
        out[len] = 0;
    return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int publish_lines(const broker *b, const char *topic, const char *lines)
{
    char port[16];
    snprintf(port, sizeof port, "%d", b->port);
    char *argv[] = {(char *)b->pub, "-h", "127.0.0.1",     "-p", port, "-q", "1", "-t",
                    (char *)topic,  "-i", "hist-test-pub", "-l", NULL};
    return run(argv, lines, NULL, 0);
}

/* ---- the client ---------------------------------------------------------- */

typedef struct {
    uint8_t type, qos, reason;
    bool dup, retain, session_present;
    uint16_t packet_id;
    char topic[256], payload[256];
    uint8_t codes[8];
    size_t ncodes;
    hist_mqtt_props props;
} pkt;

typedef struct {
    int fd, version;
    hist_mqtt_decoder dec;
    uint8_t buf[65536];
    size_t len, off;
} client;

static int client_open(client *c, int port, int version)
{
    c->version = version;
    c->len = c->off = 0;
    c->fd = loopback_connect(port);
    if (c->fd < 0)
        return -1;
    hist_mqtt_decoder_free(&c->dec);
    return hist_mqtt_decoder_init(&c->dec, version, 0);
}

static int client_send(client *c, const uint8_t *b, int n)
{
    if (n <= 0)
        return -1;
    return send(c->fd, b, (size_t)n, MSG_NOSIGNAL) == n ? 0 : -1;
}

/* the next packet: 1, or 0 on timeout / close, or a negative decode error */
static int client_next(client *c, pkt *out, int timeout_ms)
{
    uint64_t end = now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        while (c->off < c->len) {
            hist_mqtt_packet p;
            int r = hist_mqtt_feed(&c->dec, c->buf + c->off, c->len - c->off, &p);
            if (r < 0)
                return r;
            c->off += (size_t)r;
            if (!p.type)
                continue;
            memset(out, 0, sizeof *out);
            out->type = p.type;
            out->qos = p.qos;
            out->reason = p.reason;
            out->dup = p.dup;
            out->retain = p.retain;
            out->session_present = p.session_present;
            out->packet_id = p.packet_id;
            snprintf(out->topic, sizeof out->topic, "%.*s", (int)p.topic.len,
                     (const char *)p.topic.ptr);
            snprintf(out->payload, sizeof out->payload, "%.*s", (int)p.payload.len,
                     (const char *)p.payload.ptr);
            out->ncodes = p.codes.len < sizeof out->codes ? p.codes.len : sizeof out->codes;
            if (out->ncodes)
                memcpy(out->codes, p.codes.ptr, out->ncodes);
            out->props = p.props;
            return 1;
        }
        c->off = c->len = 0;
        uint64_t t = now_ms();
        if (t >= end)
            return 0;
        struct pollfd pf = {.fd = c->fd, .events = POLLIN};
        if (poll(&pf, 1, (int)(end - t)) <= 0)
            return 0;
        ssize_t r = recv(c->fd, c->buf, sizeof c->buf, 0);
        if (r <= 0)
            return 0;
        c->len = (size_t)r;
    }
}

static void client_close(client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static int connect_session(client *c, const broker *b, int version, const char *id,
                           const char *will_topic, pkt *connack)
{
    if (client_open(c, b->port, version) != 0)
        return -1;
    hist_mqtt_connect_opts o = {.version = version,
                                .client_id = id,
                                .clean = false,
                                .keep_alive_s = 30,
                                .session_expiry_s = 300,
                                .receive_max = 32,
                                .max_packet = 1 << 20,
                                .username = "historian",
                                .will_topic = will_topic,
                                .will_payload = (const uint8_t *)"offline",
                                .will_payload_len = 7,
                                .will_qos = 1,
                                .will_retain = true};
    uint8_t out[512];
    if (client_send(c, out, hist_mqtt_encode_connect(out, sizeof out, &o)) != 0)
        return -1;
    if (client_next(c, connack, WAIT_MS) != 1 || connack->type != HIST_MQTT_CONNACK)
        return -1;
    return 0;
}

/* PINGREQ, then PINGRESP: every packet the broker sent before it is
 * counted in *others (the broker answers in order, so the PUBACKs sent
 * before the PINGREQ have been handled once the PINGRESP is here) */
static int ping(client *c, int *others)
{
    uint8_t out[2];
    *others = 0;
    if (client_send(c, out, hist_mqtt_encode_pingreq(out, sizeof out)) != 0)
        return -1;
    pkt p;
    for (int i = 0; i < 100; i++) {
        if (client_next(c, &p, WAIT_MS) != 1)
            return -1;
        if (p.type == HIST_MQTT_PINGRESP)
            return 0;
        (*others)++;
    }
    return -1;
}

/* sends the PUBACKs the tracker releases; returns how many */
static int send_released(client *c, hist_mqtt_acks *a)
{
    uint16_t ids[64];
    size_t n = hist_mqtt_acks_release(a, ids, 64);
    for (size_t i = 0; i < n; i++) {
        uint8_t out[8];
        if (client_send(c, out, hist_mqtt_encode_puback(out, sizeof out, c->version, ids[i], 0)))
            return -1;
    }
    return (int)n;
}

static void scenario(broker *b, int version)
{
    const char *v = version == HIST_MQTT_V5 ? "v5" : "v311";
    char id[64], data[64], filter[64], other[64], will[64], log_line[128];
    snprintf(id, sizeof id, "hist-test-%s", v);
    snprintf(data, sizeof data, "hist/%s/line1/temp", v);
    snprintf(filter, sizeof filter, "hist/%s/#", v);
    snprintf(other, sizeof other, "other/%s", v);
    snprintf(will, sizeof will, "will/%s", v);
    fprintf(stderr, "--- MQTT %s\n", v);

    client c = {.fd = -1};
    pkt p;
    hist_mqtt_acks acks;
    REQUIRE(hist_mqtt_acks_init(&acks, 32) == 0);

    /* 1. a new persistent session, subscribed with QoS 1 */
    REQUIRE(connect_session(&c, b, version, id, will, &p) == 0);
    CHECKF(p.reason == 0 && !p.session_present, "reason %u present %d", p.reason,
           p.session_present);
    if (version == HIST_MQTT_V5)
        fprintf(stderr, "CONNACK properties seen %#x, receive max %u, topic alias max %u\n",
                p.props.seen, p.props.receive_max, p.props.topic_alias_max);
    const char *filters[] = {filter, other};
    uint8_t out[512];
    REQUIRE(client_send(&c, out,
                        hist_mqtt_encode_subscribe(out, sizeof out, version, 1, filters, 2, 1)) ==
            0);
    REQUIRE(client_next(&c, &p, WAIT_MS) == 1);
    CHECK(p.type == HIST_MQTT_SUBACK && p.packet_id == 1 && p.ncodes == 2 && p.codes[0] == 1 &&
          p.codes[1] == 1);

    /* 2. N messages; mark 3, 1, 0, 2 and 6 durable: 0..3 are acked, 6 is not
     * (4 and 5 before it are not durable) */
    char lines[512] = "";
    for (int i = 0; i < N_FIRST; i++)
        snprintf(lines + strlen(lines), sizeof lines - strlen(lines), "m%d\n", i);
    CHECK(publish_lines(b, data, lines) == 0);
    int64_t seq[N_FIRST];
    uint16_t first_ids[N_FIRST];
    for (int i = 0; i < N_FIRST; i++) {
        int r = client_next(&c, &p, WAIT_MS);
        REQUIRE(r == 1);
        char want[16];
        snprintf(want, sizeof want, "m%d", i);
        CHECKF(p.type == HIST_MQTT_PUBLISH && p.qos == 1 && !p.dup && strcmp(p.topic, data) == 0 &&
                   strcmp(p.payload, want) == 0,
               "got type %u qos %u dup %d '%s' '%s'", p.type, p.qos, p.dup, p.topic, p.payload);
        first_ids[i] = p.packet_id;
        seq[i] = hist_mqtt_acks_push(&acks, p.packet_id);
        CHECK(seq[i] == i);
    }
    int marks[] = {3, 1, 6};
    for (size_t i = 0; i < 3; i++)
        CHECK(hist_mqtt_acks_mark(&acks, (uint64_t)seq[marks[i]]) == 0);
    CHECK(send_released(&c, &acks) == 0); /* 0 is not durable: nothing may go */
    CHECK(hist_mqtt_acks_mark(&acks, (uint64_t)seq[0]) == 0);
    CHECK(send_released(&c, &acks) == 2); /* 0, 1 */
    CHECK(hist_mqtt_acks_mark(&acks, (uint64_t)seq[2]) == 0);
    CHECK(send_released(&c, &acks) == 2); /* 2, 3; 4 stops it before 6 */
    int others;
    CHECK(ping(&c, &others) == 0 && others == 0);

    /* 3. gone without DISCONNECT */
    client_close(&c);
    snprintf(log_line, sizeof log_line, "Client %s closed its connection.", id);
    CHECK(wait_log(b, log_line) == 0);
    char port[16], got_will[256];
    snprintf(port, sizeof port, "%d", b->port);
    char *sub_argv[] = {b->sub, "-h", "127.0.0.1", "-p", port, "-t",
                        will,   "-C", "1",         "-W", "5",  NULL};
    CHECK(run(sub_argv, NULL, got_will, sizeof got_will) == 0);
    CHECKF(strcmp(got_will, "offline\n") == 0, "will: '%s'", got_will);
    lines[0] = 0;
    for (int i = 0; i < N_LATE; i++)
        snprintf(lines + strlen(lines), sizeof lines - strlen(lines), "late%d\n", i);
    CHECK(publish_lines(b, data, lines) == 0);

    /* 4. back: the session is there; exactly the unacked ones again, DUP
     * set, same packet ids, in order; then the late ones */
    hist_mqtt_acks_reset(&acks);
    CHECK(hist_mqtt_acks_mark(&acks, (uint64_t)seq[6]) == HIST_ENOTFOUND); /* old connection */
    REQUIRE(connect_session(&c, b, version, id, will, &p) == 0);
    CHECKF(p.reason == 0 && p.session_present, "reason %u present %d", p.reason, p.session_present);
    for (int i = N_ACKED; i < N_FIRST + N_LATE; i++) {
        REQUIRE(client_next(&c, &p, WAIT_MS) == 1);
        char want[16];
        bool redelivered = i < N_FIRST;
        if (redelivered)
            snprintf(want, sizeof want, "m%d", i);
        else
            snprintf(want, sizeof want, "late%d", i - N_FIRST);
        CHECKF(p.type == HIST_MQTT_PUBLISH && p.qos == 1 && p.dup == redelivered &&
                   strcmp(p.payload, want) == 0,
               "want '%s' dup %d, got type %u dup %d '%s'", want, redelivered, p.type, p.dup,
               p.payload);
        if (redelivered)
            CHECK(p.packet_id == first_ids[i]);
        int64_t s = hist_mqtt_acks_push(&acks, p.packet_id);
        CHECK(s >= 0 && hist_mqtt_acks_mark(&acks, (uint64_t)s) == 0);
    }
    CHECK(send_released(&c, &acks) == N_FIRST - N_ACKED + N_LATE);
    CHECK(ping(&c, &others) == 0 && others == 0); /* nothing more came */
    CHECK(client_send(&c, out, hist_mqtt_encode_disconnect(out, sizeof out, version, 0)) == 0);
    client_close(&c);
    snprintf(log_line, sizeof log_line, "Client %s disconnected.", id);
    CHECK(wait_log(b, log_line) == 0);

    /* 5. everything was acked: a third connection gets the session, no
     * message */
    REQUIRE(connect_session(&c, b, version, id, will, &p) == 0);
    CHECK(p.reason == 0 && p.session_present);
    CHECK(ping(&c, &others) == 0 && others == 0);
    CHECK(client_send(&c, out, hist_mqtt_encode_disconnect(out, sizeof out, version, 0)) == 0);
    client_close(&c);
    hist_mqtt_decoder_free(&c.dec);
    hist_mqtt_acks_free(&acks);
}

/* the running broker, for the atexit handler: REQUIRE exits early and
 * must not leave mosquitto behind */
static broker *running_;

static void stop_at_exit(void)
{
    if (running_)
        broker_stop(running_);
}

int main(void)
{
    static broker b;
    if (find_program("mosquitto", b.bin, sizeof b.bin) != 0 ||
        find_program("mosquitto_pub", b.pub, sizeof b.pub) != 0 ||
        find_program("mosquitto_sub", b.sub, sizeof b.sub) != 0) {
        printf("SKIP: mosquitto or mosquitto-clients not installed (scripts/deps.sh installs "
               "them)\n");
        return 77;
    }
    signal(SIGPIPE, SIG_IGN);
    running_ = &b;
    atexit(stop_at_exit);
    if (broker_start(&b) != 0) {
        CHECKF(0, "mosquitto did not start on 127.0.0.1:%d", b.port);
        broker_dump(&b);
        return check_summary();
    }
    scenario(&b, HIST_MQTT_V311);
    scenario(&b, HIST_MQTT_V5);
    if (check_failed_)
        broker_dump(&b);
    return check_summary(); /* stop_at_exit stops the broker */
}
