/* nspv2._cmarshal, addresses: a result's addresses (a tuple of CsAddr) as the CSADDR_INFO block of
 * its image: the array, then each SOCKADDR it points to (local, then remote, for each entry), all
 * at multiples of ALIGN, pointers written as 1 + their offset in the image. Socket addresses are
 * what the socket module writes: (host, port) for IPv4 and (host, port, flowinfo, scope_id) for
 * IPv6, host a literal address; raw SOCKADDR bytes pass as they are. Hosts are parsed here, in
 * the forms every supported Python's ipaddress module takes the same way (a dotted quad without
 * leading zeros; eight hextets, or fewer around one "::", the last two of them possibly written
 * as a dotted quad, as str() of an IPv4-mapped address is from Python 3.13 on); anything else (a
 * "%zone" in IPv6, a str subclass, a float port, ...) is left to Marshal._addresses_block
 * (nspv2/_marshal.py with nspv2/queryset.py's sockaddr_to_bytes), which writes it or says what
 * is wrong, so what C writes is always what Python would. Nothing is cached: a provider that
 * builds its answers afresh on every call is served as fast as one that reuses them. */
#include "cmarshal.h"

#include <limits.h>
#include <string.h>

static PyObject *s_remote, *s_local, *s_socket_type, *s_protocol;

int cm_addresses_init(void)
{
    return (s_remote = PyUnicode_InternFromString("remote")) != NULL &&
                   (s_local = PyUnicode_InternFromString("local")) != NULL &&
                   (s_socket_type = PyUnicode_InternFromString("socket_type")) != NULL &&
                   (s_protocol = PyUnicode_InternFromString("protocol")) != NULL
               ? 0
               : -1;
}

/* "a.b.c.d", each 0-255 in one to three digits, no leading zero: 1 and the 4 bytes, else 0. */
static int parse_ipv4(const char *s, size_t n, unsigned char out[4])
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        size_t start = i;
        unsigned value = 0;
        while (i < n && i - start < 3 && s[i] >= '0' && s[i] <= '9')
            value = value * 10 + (unsigned)(s[i++] - '0');
        size_t digits = i - start;
        if (digits == 0 || value > 255 || (digits > 1 && s[start] == '0'))
            return 0;
        out[part] = (unsigned char)value;
        if (part < 3 && (i >= n || s[i++] != '.'))
            return 0;
    }
    return i == n;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Eight hextets of one to four hex digits separated by ':', or fewer with one "::" standing for
 * at least one zero hextet: 1 and the 16 bytes, else 0. */
static int parse_ipv6(const char *s, size_t n, unsigned char out[16])
{
    unsigned groups[8];
    int count = 0, gap = -1; /* gap: how many hextets precede the "::" */
    size_t i = 0;
    if (n >= 2 && s[0] == ':' && s[1] == ':') {
        gap = 0;
        i = 2;
    } else if (n >= 1 && s[0] == ':') {
        return 0;
    }
    while (i < n) {
        size_t start = i;
        unsigned value = 0;
        while (i < n && i - start < 4 && hex_digit(s[i]) >= 0)
            value = value * 16 + (unsigned)hex_digit(s[i++]);
        if (i < n && s[i] == '.') { /* the last 32 bits as a dotted quad: "::ffff:192.0.2.1" */
            unsigned char v4[4];
            if (count > 6 || !parse_ipv4(s + start, n - start, v4))
                return 0;
            groups[count++] = (unsigned)(v4[0] << 8 | v4[1]);
            groups[count++] = (unsigned)(v4[2] << 8 | v4[3]);
            break;
        }
        if (i == start || count == 8)
            return 0;
        groups[count++] = value;
        if (i == n)
            break;
        if (s[i++] != ':' || i == n)
            return 0; /* a fifth digit, '.', '%', ..., or a ':' at the end */
        if (s[i] == ':') {
            if (gap >= 0)
                return 0;
            gap = count;
            i++;
        }
    }
    if (gap < 0 ? count != 8 : count > 7)
        return 0;
    memset(out, 0, 16);
    int head = gap < 0 ? count : gap;
    for (int k = 0; k < count; k++) {
        int at = k < head ? k : 8 - count + k;
        out[2 * at] = (unsigned char)(groups[k] >> 8);
        out[2 * at + 1] = (unsigned char)groups[k];
    }
    return 1;
}

/* One socket address as Winsock's SOCKADDR: *raw and *len (pointing into buf, or into a bytes
 * object the caller holds); 1, or 0 for the Python code. None is an empty address (length 0). */
struct sockaddr_out {
    const char *raw;
    size_t len;
    unsigned char buf[28];
};

static void put_le16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8);
}

static void put_le32(unsigned char *p, unsigned long v)
{
    put_le16(p, (unsigned)(v & 0xFFFF));
    put_le16(p + 2, (unsigned)(v >> 16));
}

static int sockaddr_of(PyObject *address, struct sockaddr_out *sa)
{
    sa->raw = NULL;
    sa->len = 0;
    if (address == Py_None)
        return 1;
    if (PyBytes_CheckExact(address)) {
        if (PyBytes_GET_SIZE(address) < 2)
            return 0;
        sa->raw = PyBytes_AS_STRING(address);
        sa->len = (size_t)PyBytes_GET_SIZE(address);
        return 1;
    }
    Py_ssize_t fields = PyTuple_CheckExact(address) ? PyTuple_GET_SIZE(address) : 0;
    if (fields != 2 && fields != 4)
        return 0;
    PyObject *host = PyTuple_GET_ITEM(address, 0);
    long long port, flowinfo = 0, scope_id = 0;
    if (!PyUnicode_CheckExact(host) || PyUnicode_READY(host) != 0 || !PyUnicode_IS_ASCII(host) ||
        !int_in(PyTuple_GET_ITEM(address, 1), 0, 0xFFFF, &port)) {
        PyErr_Clear();
        return 0;
    }
    const char *text = (const char *)PyUnicode_DATA(host);
    size_t n = (size_t)PyUnicode_GET_LENGTH(host);
    unsigned char *b = sa->buf;
    memset(b, 0, sizeof sa->buf);
    if (fields == 2) {
        if (!parse_ipv4(text, n, b + 4))
            return 0;
        put_le16(b, AF_INET);
        sa->len = sizeof(SOCKADDR_IN);
    } else {
        if (!int_in(PyTuple_GET_ITEM(address, 2), 0, 0xFFFFFFFF, &flowinfo) ||
            !int_in(PyTuple_GET_ITEM(address, 3), 0, 0xFFFFFFFF, &scope_id) ||
            !parse_ipv6(text, n, b + 8))
            return 0;
        put_le16(b, AF_INET6);
        put_le32(b + 4, (unsigned long)flowinfo);
        put_le32(b + 24, (unsigned long)scope_id);
        sa->len = sizeof(SOCKADDR_IN6);
    }
    b[2] = (unsigned char)(port >> 8), b[3] = (unsigned char)port; /* network byte order */
    sa->raw = (const char *)b;
    return 1;
}

/* One CsAddr's fields: 1, or 0 for the Python code. */
static int csaddr_of(Marshaller *m, PyObject *item, struct sockaddr_out ends[2], INT *socket_type,
                     INT *protocol)
{
    if (Py_TYPE(item) != (PyTypeObject *)m->csaddr)
        return 0;
    PyObject *dict = PyObject_GenericGetDict(item, NULL); /* frozen: its fields live there */
    if (dict == NULL) {
        PyErr_Clear();
        return 0;
    }
    PyObject *local = PyDict_GetItemWithError(dict, s_local);
    PyObject *remote = local ? PyDict_GetItemWithError(dict, s_remote) : NULL;
    PyObject *type = remote ? PyDict_GetItemWithError(dict, s_socket_type) : NULL;
    PyObject *proto = type ? PyDict_GetItemWithError(dict, s_protocol) : NULL;
    long long t = 0, p = 0;
    int ok = proto != NULL && sockaddr_of(local, &ends[0]) && sockaddr_of(remote, &ends[1]) &&
             int_in(type, INT_MIN, INT_MAX, &t) && int_in(proto, INT_MIN, INT_MAX, &p);
    Py_DECREF(dict); /* the bytes a raw address points into stay alive in the tuple */
    PyErr_Clear();
    *socket_type = (INT)t;
    *protocol = (INT)p;
    return ok;
}

#define STACK_ENTRIES 16

PyObject *cm_addresses_block(Marshaller *m, PyObject *addresses, size_t base)
{
    size_t n = (size_t)PyTuple_GET_SIZE(addresses);
    struct entry {
        struct sockaddr_out ends[2];
        INT socket_type, protocol;
    } stack[STACK_ENTRIES], *entries = stack;
    if (n > STACK_ENTRIES && (entries = PyMem_Malloc(n * sizeof *entries)) == NULL)
        return PyErr_NoMemory();
    PyObject *block = NULL;
    size_t size = padded(n * sizeof(CSADDR_INFO));
    for (size_t i = 0; i < n; i++) {
        struct entry *e = &entries[i];
        if (!csaddr_of(m, PyTuple_GET_ITEM(addresses, (Py_ssize_t)i), e->ends, &e->socket_type,
                       &e->protocol))
            goto done;
        size += padded(e->ends[0].len) + padded(e->ends[1].len);
    }
    if (size > (size_t)PY_SSIZE_T_MAX)
        goto done;
    if ((block = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size)) == NULL)
        goto done;
    char *out = PyBytes_AS_STRING(block);
    memset(out, 0, size);
    size_t at = padded(n * sizeof(CSADDR_INFO)); /* the next SOCKADDR's offset in the block */
    for (size_t i = 0; i < n; i++) {
        CSADDR_INFO info;
        memset(&info, 0, sizeof info);
        SOCKET_ADDRESS *sides[2] = {&info.LocalAddr, &info.RemoteAddr};
        for (int k = 0; k < 2; k++) {
            const struct sockaddr_out *sa = &entries[i].ends[k];
            if (sa->len == 0)
                continue;
            memcpy(out + at, sa->raw, sa->len);
            sides[k]->lpSockaddr = (LPSOCKADDR)(uintptr_t)(base + at + 1);
            sides[k]->iSockaddrLength = (INT)sa->len;
            at += padded(sa->len);
        }
        info.iSocketType = entries[i].socket_type;
        info.iProtocol = entries[i].protocol;
        memcpy(out + i * sizeof info, &info, sizeof info);
    }
done:
    if (entries != stack)
        PyMem_Free(entries);
    return block;
}
