/*
 * shim_fork.c - fork (docs/architecture.md, the shim's rule 6). The pthread_atfork handlers,
 * installed once by phase B: prepare quiesces the unwinder and takes every module's locks, and
 * rt_in_shim stays set until parent or child is done; parent releases them; child
 * resets them, drops the buffers and sets it inherited, and then either stops recording
 * (--no-follow-children, or the parent was not recording) or opens its own log, so two
 * processes never share one file. A child that cannot open its log stops recording.
 */
#include <pthread.h>
#include <unistd.h>

#include "preload/modmap.h"
#include "preload/pystacks.h"
#include "preload/rt.h"
#include "preload/sampler.h"
#include "preload/shim.h"
#include "preload/stacks.h"
#include "preload/tbuf.h"
#include "preload/writer.h"

static void fork_prepare(void)
{
    rt_in_shim++;
    st_fork_quiesce();
    mm_fork_prepare();
    wr_fork_prepare();
    tb_fork_prepare();
    st_fork_prepare();
    if (shim_sampled != NULL)
        smp_fork_prepare(shim_sampled);
    if (shim_zero_set != NULL)
        smp_fork_prepare(shim_zero_set);
}

static void fork_parent(void)
{
    if (shim_zero_set != NULL)
        smp_fork_parent(shim_zero_set);
    if (shim_sampled != NULL)
        smp_fork_parent(shim_sampled);
    st_fork_parent();
    tb_fork_parent();
    wr_fork_parent();
    mm_fork_parent();
    rt_in_shim--;
}

static void fork_child(void)
{
    int parent = shim_my_pid;

    shim_my_pid = getpid();
    if (shim_zero_set != NULL)
        smp_fork_child(shim_zero_set);
    if (shim_sampled != NULL)
        smp_fork_child(shim_sampled);
    st_fork_child();
    tb_fork_child();
    mm_fork_child();
    shim_counting_unwritten = false; /* the parent's count, for the parent's log */
    if (!rt_cfg.follow_children || !shim_recording) {
        shim_recording = false;
        py_fork_child(false);
        wr_fork_parent(); /* unlock; the inherited log is never written here */
        rt_in_shim--;
        return;
    }
    if (wr_fork_child(parent) < 0) {
        shim_recording = false;
        py_fork_child(false);
    } else {
        py_fork_child(true);
        (void)tb_self(); /* this thread is the child's main one: the writer watches it */
        mm_scan(true);
    }
    rt_in_shim--;
}

void shim_install_fork_handlers(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}
