/* Long double helpers for Tessera.
 *
 * Redis computes INCRBYFLOAT and HINCRBYFLOAT in C `long double` (80-bit extended on x86-64)
 * and prints the result with "%.17Lf" minus trailing zeros. Rust has no such type, so these
 * few operations run here, on an opaque 16-byte value the Rust side never looks inside. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

typedef struct { long double v; } ld_box;

/* Strict parse: the whole buffer must be one number (no spaces, not NaN, no overflow).
 * Returns 1 on success. */
int tessera_ld_parse(const char *s, size_t len, ld_box *out) {
    char buf[5 * 1024];
    char *end;
    if (len == 0 || len >= sizeof(buf)) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    long double v = strtold(buf, &end);
    if (isspace((unsigned char)buf[0]) || *end != '\0' || (size_t)(end - buf) != len ||
        (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || fpclassify(v) == FP_ZERO)) ||
        errno == EINVAL || isnan(v))
        return 0;
    out->v = v;
    return 1;
}

void tessera_ld_from_i64(long long n, ld_box *out) { out->v = (long double)n; }

void tessera_ld_from_f64(double d, ld_box *out) { out->v = (long double)d; }

double tessera_ld_to_f64(const ld_box *a) { return (double)a->v; }

/* out = a + b; returns 0 when the sum is NaN or infinite. */
int tessera_ld_add(const ld_box *a, const ld_box *b, ld_box *out) {
    long double r = a->v + b->v;
    if (isnan(r) || isinf(r)) return 0;
    out->v = r;
    return 1;
}

int tessera_ld_is_finite(const ld_box *a) { return !isnan(a->v) && !isinf(a->v); }

/* "%.17Lf" without trailing zeros (and "-0" printed as "0"), or "%.17Lg" when human == 0.
 * Returns the length written, 0 when it does not fit. */
size_t tessera_ld_format(const ld_box *a, int human, char *buf, size_t cap) {
    size_t l;
    long double v = a->v;
    if (isinf(v)) {
        const char *t = v > 0 ? "inf" : "-inf";
        l = strlen(t);
        if (l + 1 > cap) return 0;
        memcpy(buf, t, l + 1);
        return l;
    }
    if (!human) {
        int n = snprintf(buf, cap, "%.17Lg", v);
        if (n < 0 || (size_t)n + 1 > cap) return 0;
        return (size_t)n;
    }
    int n = snprintf(buf, cap, "%.17Lf", v);
    if (n < 0 || (size_t)n + 1 > cap) return 0;
    l = (size_t)n;
    if (memchr(buf, '.', l) != NULL) {
        while (l > 0 && buf[l - 1] == '0') l--;
        if (l > 0 && buf[l - 1] == '.') l--;
    }
    if (l == 2 && buf[0] == '-' && buf[1] == '0') {
        buf[0] = '0';
        l = 1;
    }
    buf[l] = '\0';
    return l;
}
