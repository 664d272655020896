/*
 * je_preload.cc - malloc/free and new/delete of known sizes, for the `jemalloc_preload`
 * integration test, which runs it with jemalloc preloaded after the shim. No iostream.
 *
 *   churn: 10 x malloc(7001) + free, 10 x new JeObj (7003 bytes) + delete
 *   je_leak: 2 x malloc(7005), 1 x new JeObj, never freed (3 blocks, 21013 bytes)
 */
#include <cstdlib>
#include <new>

static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

struct JeObj {
    char b[7003];
};

extern "C" {

__attribute__((noipa)) void je_churn(void)
{
    for (int i = 0; i < 10; i++) {
        void *p = std::malloc(7001);
        ESCAPE(p);
        std::free(p);
    }
    for (int i = 0; i < 10; i++) {
        JeObj *o = new JeObj;
        ESCAPE(o);
        delete o;
    }
}

__attribute__((noipa)) void je_leak(void)
{
    ESCAPE(std::malloc(7005));
    ESCAPE(std::malloc(7005));
    ESCAPE(new JeObj);
}
}

int main()
{
    je_churn();
    je_leak();
    return 0;
}
