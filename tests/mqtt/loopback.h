/*
 * loopback.h: a blocking TCP connection to 127.0.0.1:port with Nagle off,
 * for the test and bench MQTT clients that talk to a broker the test
 * started itself (tests/mqtt/test_mqtt_broker.c, bench/bench_mqtt_pub.c).
 * Header-only: each is one program.
 */
#ifndef HIST_TESTS_MQTT_LOOPBACK_H
#define HIST_TESTS_MQTT_LOOPBACK_H

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

/* The connected socket, or -1. */
static inline int loopback_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

#endif
