/*
 * sym_progs.h - shared by the sym_* test programs that test_symbolize.c runs. Each
 * program prints its own module entry the way the shim logs it (load bias, PT_LOAD
 * range, GNU build-id, taken from dl_iterate_phdr at run time, so ASLR is real), then
 * one line per known call site. Lines are taken from __LINE__, so editing a program
 * cannot make the test and the program disagree:
 *
 *   module <bias> <lo> <hi> <build-id or ->     hex, hex, hex, hex bytes
 *   site <name> <pc> <line> [<line> ...]         hex return address, decimal lines
 */
#ifndef SYM_PROGS_H
#define SYM_PROGS_H

#include <elf.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Prints the build-id in the PT_NOTE segment ph, if there is one; returns whether it did. */
static int sym_prog_print_build_id(const struct dl_phdr_info *info, const ElfW(Phdr) * ph)
{
    const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr);
    const char *end = p + ph->p_memsz;

    while (p + sizeof(ElfW(Nhdr)) <= end) {
        const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)p;
        const char *name = p + sizeof(*n);
        const unsigned char *desc = (const unsigned char *)name + ((n->n_namesz + 3) & ~3u);

        if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && memcmp(name, "GNU", 4) == 0) {
            for (unsigned i = 0; i < n->n_descsz; i++)
                printf("%02x", desc[i]);
            return 1;
        }
        p = (const char *)desc + ((n->n_descsz + 3) & ~3u);
    }
    return 0;
}

static int sym_prog_print_module(struct dl_phdr_info *info, size_t size, void *arg)
{
    uint64_t lo = UINT64_MAX, hi = 0;
    int has_id = 0;

    (void)size;
    (void)arg;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

        if (ph->p_type == PT_LOAD) {
            if (info->dlpi_addr + ph->p_vaddr < lo)
                lo = info->dlpi_addr + ph->p_vaddr;
            if (info->dlpi_addr + ph->p_vaddr + ph->p_memsz > hi)
                hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
        }
    }
    printf("module %llx %llx %llx ", (unsigned long long)info->dlpi_addr, (unsigned long long)lo,
           (unsigned long long)hi);
    for (int i = 0; i < info->dlpi_phnum; i++) {
        if (info->dlpi_phdr[i].p_type == PT_NOTE && !has_id)
            has_id = sym_prog_print_build_id(info, &info->dlpi_phdr[i]);
    }
    printf("%s\n", has_id ? "" : "-");
    return 1; /* the first entry is the program itself */
}

static void sym_prog_print_map(void)
{
    dl_iterate_phdr(sym_prog_print_module, NULL);
}

#endif
