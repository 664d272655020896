/* static_prog.c - linked with -static: no program interpreter, so LD_PRELOAD is never
 * read and the shim cannot be loaded. `heapspan run` must refuse it before it starts
 * (exit 2), and run it with --force, passing on its exit status (3).
 */
#include <stdlib.h>
#include <unistd.h>

int main(void)
{
    char *volatile p = malloc(100);
    p[0] = 1;
    free(p);
    return write(1, "static_prog: ran\n", 17) == 17 ? 3 : 1;
}
