/* addr.h -- the client address the per-address limits count (the bridge, and chat-fcgi's new-name limit).
 *
 * Behind nginx every connection comes from the proxy, so the client is the
 * address nginx puts in X-Real-IP ($remote_addr). Headers are believed only
 * from a loopback or unix-socket peer (the proxy on this host); anything
 * else is keyed by its own address. An IPv6 client is keyed by its /64: one
 * host usually holds a whole /64, and keying exact addresses would let it
 * take a new limit per address. */
#ifndef CHAT_ADDR_H
#define CHAT_ADDR_H

#include <stddef.h>

/* Room for any key, with its NUL: "xxxx:xxxx:xxxx:xxxx::/64" or a dotted quad. */
#define ADDR_KEY_MAX 48

/*
 * Writes the limit key of the address text ip (up to 63 bytes, no port) to
 * out: IPv4 dotted quad ("::ffff:a.b.c.d" counts as IPv4), IPv6 its /64
 * prefix ("2001:db8:1:2::/64"). Returns 0, or -1 when ip is not an address
 * (out is then "").
 */
int addr_key(const char *ip, char *out, size_t outlen);

/*
 * Whether headers from this peer are believed: a loopback address
 * (127.0.0.0/8, ::1, ::ffff:127.x) or no address at all (a unix socket).
 */
int addr_peer_trusted(const char *peer);

/*
 * The last hop of an X-Forwarded-For value (nginx appends the address it
 * saw) copied to out, spaces trimmed. Returns 0, or -1 when there is none
 * or it does not fit.
 */
int addr_xff_last(const char *xff, char *out, size_t outlen);

/*
 * The limit key of a client: X-Real-IP (real_ip), else the last hop of
 * X-Forwarded-For (xff), when the peer is trusted and they are addresses;
 * else the peer's own address. NULL headers are absent. out gets "local"
 * when nothing gives an address (a unix socket without headers).
 */
void addr_client(const char *peer, const char *real_ip, const char *xff, char *out, size_t outlen);

#endif
