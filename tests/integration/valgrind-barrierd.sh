#!/bin/sh
# Runs barrierd under valgrind memcheck for the integration suites: any invalid
# access, or memory definitely lost at a clean shutdown, turns the exit status
# into 99, which the fixture reports as a failed test.
exec valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite \
    --errors-for-leak-kinds=definite --track-fds=no "$BARRIERD_REAL" "$@"
