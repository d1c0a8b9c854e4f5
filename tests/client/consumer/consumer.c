/* consumer.c - a program outside the tree, built against the installed
 * libbarrierclient: connect, ping, pass a barrier of one. */
#include <barrierclient.h>

#include <stdio.h>

int main(int argc, char **argv)
{
    bc_client *c;
    int rc = bc_connect(argc > 1 ? argv[1] : NULL, NULL, &c);
    if (rc == 0) rc = bc_ping(c, NULL);
    bc_wait_result r = {0};
    if (rc == 0) rc = bc_wait(c, "consumer", 1, 10, NULL, NULL, &r);
    if (rc < 0) {
        fprintf(stderr, "consumer: %s: %s\n", bc_strerror(rc), bc_last_error_message());
        return 1;
    }
    bc_close(c);
    printf("consumer ok: generation %llu\n", (unsigned long long)r.generation);
    return 0;
}
