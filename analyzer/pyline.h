/*
 * pyline.h - the source line of a CPython 3.11+ instruction, from its code object's
 * location table (co_linetable, the format of CPython's Objects/locations.md): a
 * sequence of entries, each a first byte with bit 7 set (bits 3-6 a code, bits 0-2
 * the number of 2-byte code units it covers, minus one) and bytes with bit 7 clear.
 * Code 15 has no location; 14 is the long form (signed varint line delta, then end
 * line delta, start and end column as varints); 13 a line delta without columns; 10
 * to 12 a line delta of code - 10 and two column bytes; 0 to 9 the same line and one
 * column byte. Varints are 6-bit groups, least significant first, bit 6 set on all
 * but the last; a signed one is v >> 1, negated when v & 1.
 *
 * Reads outside input (the table comes from the log): every read is bounded by len,
 * and a table that is cut short or malformed gives 0, never a wrong line past it.
 */
#ifndef HEAPSPAN_PYLINE_H
#define HEAPSPAN_PYLINE_H

#include <stddef.h>
#include <stdint.h>

/* The line of the instruction at index `instr` (in code units) of a code object whose
 * first line is first_line; first_line itself for instr < 0 (a frame that had not
 * started). 0 when the table does not say (no location, past its end, malformed). */
int pyl_line(const uint8_t *table, size_t len, int first_line, int64_t instr);

#endif
