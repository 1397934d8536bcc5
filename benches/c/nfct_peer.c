/* The libnetfilter_conntrack peer of the benchmarks: a dump with a real parse of every entry
 * (the library parses each message into a struct nf_conntrack before the callback, which then
 * reads the same fields the Rust side touches), and an offline parse of captured bytes with
 * nfct_nlmsg_parse(). Written for this benchmark. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

static uint64_t touch(const struct nf_conntrack *ct)
{
	uint64_t acc = 0;
	acc += nfct_get_attr_u8(ct, ATTR_L3PROTO);
	acc += nfct_get_attr_u8(ct, ATTR_L4PROTO);
	if (nfct_attr_is_set(ct, ATTR_ORIG_IPV4_SRC))
		acc += nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_SRC);
	if (nfct_attr_is_set(ct, ATTR_ORIG_IPV6_SRC))
		acc += ((const uint8_t *)nfct_get_attr(ct, ATTR_ORIG_IPV6_SRC))[15];
	acc += nfct_get_attr_u16(ct, ATTR_ORIG_PORT_SRC) ^ nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST);
	acc += nfct_get_attr_u16(ct, ATTR_REPL_PORT_SRC) ^ nfct_get_attr_u16(ct, ATTR_REPL_PORT_DST);
	acc += nfct_get_attr_u32(ct, ATTR_STATUS) ^ nfct_get_attr_u32(ct, ATTR_TIMEOUT);
	acc += nfct_get_attr_u32(ct, ATTR_MARK) ^ nfct_get_attr_u32(ct, ATTR_ID);
	acc += nfct_get_attr_u16(ct, ATTR_ZONE) + nfct_get_attr_u32(ct, ATTR_USE);
	acc += nfct_get_attr_u64(ct, ATTR_ORIG_COUNTER_PACKETS) + nfct_get_attr_u64(ct, ATTR_REPL_COUNTER_BYTES);
	acc ^= nfct_get_attr_u64(ct, ATTR_TIMESTAMP_START);
	acc += nfct_get_attr_u8(ct, ATTR_TCP_STATE);
	return acc;
}

struct acc { uint64_t n, sum; };

static int cb(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *data)
{
	struct acc *a = data;
	(void)type;
	a->n++;
	a->sum += touch(ct);
	return NFCT_CB_CONTINUE;
}

/* Dumps the table of the calling thread's network namespace; returns the entry count or -1. */
long nfct_peer_dump(uint8_t family, uint64_t *sum)
{
	struct nfct_handle *h = nfct_open(CONNTRACK, 0);
	struct acc a = { 0, 0 };
	uint32_t fam = family;
	int r;
	if (!h)
		return -1;
	nfct_callback_register(h, NFCT_T_ALL, cb, &a);
	r = nfct_query(h, NFCT_Q_DUMP, &fam);
	nfct_close(h);
	if (r < 0)
		return -1;
	*sum = a.sum;
	return (long)a.n;
}

/* Parses every conntrack message of a buffer of concatenated netlink messages. */
long nfct_peer_parse(const uint8_t *buf, size_t len, uint64_t *sum)
{
	struct nf_conntrack *ct = nfct_new();
	long n = 0;
	size_t off = 0;
	if (!ct)
		return -1;
	while (off + sizeof(struct nlmsghdr) <= len) {
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)(buf + off);
		if (nlh->nlmsg_len < sizeof(struct nlmsghdr) || off + nlh->nlmsg_len > len)
			break;
		if ((nlh->nlmsg_type >> 8) == 1 && (nlh->nlmsg_type & 0xff) <= 2) {
			if (nfct_nlmsg_parse(nlh, ct) >= 0) {
				*sum += touch(ct);
				n++;
			}
		}
		off += NLMSG_ALIGN(nlh->nlmsg_len);
	}
	nfct_destroy(ct);
	return n;
}

/* A plain entry, as a C program that keeps a table would hold it: both tuples, ports,
 * status, timeout, mark, id, use, zone, labels and the TCP state (the "C decoder
 * into a plain struct"). */
struct plain {
	uint8_t orig_src[16], orig_dst[16], repl_src[16], repl_dst[16];
	uint8_t labels[16];
	uint32_t status, timeout, mark, id, use;
	uint16_t orig_sport, orig_dport, repl_sport, repl_dport, zone;
	uint8_t l3, l4, tcp_state;
};

struct table { struct plain *v; size_t n, cap; int failed; };

static void addr(const struct nf_conntrack *ct, int v4, int v6, uint8_t out[16])
{
	if (nfct_attr_is_set(ct, v4))
		memcpy(out, nfct_get_attr(ct, v4), 4);
	else if (nfct_attr_is_set(ct, v6))
		memcpy(out, nfct_get_attr(ct, v6), 16);
}

static int keep(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *data)
{
	struct table *t = data;
	struct plain *p;
	const struct nfct_bitmask *b;
	(void)type;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 1024;
		struct plain *v = realloc(t->v, cap * sizeof(*v));
		if (!v) {
			t->failed = 1;
			return NFCT_CB_STOP;
		}
		t->v = v;
		t->cap = cap;
	}
	p = &t->v[t->n++];
	memset(p, 0, sizeof(*p));
	addr(ct, ATTR_ORIG_IPV4_SRC, ATTR_ORIG_IPV6_SRC, p->orig_src);
	addr(ct, ATTR_ORIG_IPV4_DST, ATTR_ORIG_IPV6_DST, p->orig_dst);
	addr(ct, ATTR_REPL_IPV4_SRC, ATTR_REPL_IPV6_SRC, p->repl_src);
	addr(ct, ATTR_REPL_IPV4_DST, ATTR_REPL_IPV6_DST, p->repl_dst);
	p->l3 = nfct_get_attr_u8(ct, ATTR_L3PROTO);
	p->l4 = nfct_get_attr_u8(ct, ATTR_L4PROTO);
	p->orig_sport = nfct_get_attr_u16(ct, ATTR_ORIG_PORT_SRC);
	p->orig_dport = nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST);
	p->repl_sport = nfct_get_attr_u16(ct, ATTR_REPL_PORT_SRC);
	p->repl_dport = nfct_get_attr_u16(ct, ATTR_REPL_PORT_DST);
	p->status = nfct_get_attr_u32(ct, ATTR_STATUS);
	p->timeout = nfct_get_attr_u32(ct, ATTR_TIMEOUT);
	p->mark = nfct_get_attr_u32(ct, ATTR_MARK);
	p->id = nfct_get_attr_u32(ct, ATTR_ID);
	p->use = nfct_get_attr_u32(ct, ATTR_USE);
	p->zone = nfct_get_attr_u16(ct, ATTR_ZONE);
	p->tcp_state = nfct_get_attr_u8(ct, ATTR_TCP_STATE);
	b = nfct_get_attr(ct, ATTR_CONNLABELS);
	if (b) {
		unsigned int bit, max = nfct_bitmask_maxbit(b);
		for (bit = 0; bit <= max && bit < 128; bit++)
			if (nfct_bitmask_test_bit(b, bit))
				p->labels[bit / 8] |= (uint8_t)(1u << (bit % 8));
	}
	return NFCT_CB_CONTINUE;
}

/* Dumps the table of the calling thread's network namespace into an array of plain entries
 * (grown by doubling), and keeps it: returns the entry count (or -1) and the bytes of the
 * array in *bytes. The caller measures the process and exits. */
long nfct_peer_collect(uint8_t family, uint64_t *bytes)
{
	static struct table t;
	struct nfct_handle *h = nfct_open(CONNTRACK, 0);
	uint32_t fam = family;
	int r;
	if (!h)
		return -1;
	nfct_callback_register(h, NFCT_T_ALL, keep, &t);
	r = nfct_query(h, NFCT_Q_DUMP, &fam);
	nfct_close(h);
	if (r < 0 || t.failed)
		return -1;
	*bytes = (uint64_t)(t.cap * sizeof(struct plain));
	return (long)t.n;
}
