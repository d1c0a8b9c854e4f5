/* ops_notify.c - barrierd tells systemd (Type=notify) READY=1 once every
 * listener is bound and STOPPING=1 on SIGTERM: through a NOTIFY_SOCKET this
 * test binds (AF_UNIX, SOCK_DGRAM) and puts in barrierd's environment (the
 * launcher passes the environment through). Exit 0 pass, 1 fail. */

#include "ts_launch.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int expect(int fd, const char *what, int timeout_ms)
{
    char msg[1024];
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (poll(&p, 1, timeout_ms) > 0) {
        ssize_t n = recv(fd, msg, sizeof msg - 1, 0);
        if (n <= 0)
            break;
        msg[n] = 0;
        printf("notify: %s\n", msg);
        if (strstr(msg, what))
            return 0;
    }
    fprintf(stderr, "FAIL: no %s on NOTIFY_SOCKET within %d ms\n", what, timeout_ms);
    return -1;
}

int main(void)
{
    char dir[] = "/tmp/ops-notify-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s/notify", dir);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("notify socket");
        return 1;
    }
    setenv("NOTIFY_SOCKET", a.sun_path, 1);
    ts_server s = {0};
    int rc = 1;
    if (ts_server_start(&s, NULL) < 0)
        goto out;
    unsetenv("NOTIFY_SOCKET");
    if (expect(fd, "READY=1", 5000) < 0)
        goto out;
    kill(s.pid, SIGTERM);
    if (expect(fd, "STOPPING=1", 5000) < 0)
        goto out;
    rc = 0;
    printf("ok\n");
out:
    ts_server_cleanup(&s);
    close(fd);
    unlink(a.sun_path);
    rmdir(dir);
    return rc;
}
