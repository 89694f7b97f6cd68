/* fcgiout.c -- a whole FastCGI answer in one system call: its records, the end of the request. */
#include "fcgiout.h"

#include <errno.h>
#include <fastcgi.h>
#include <string.h>
#include <sys/socket.h>

/* iovecs per sendmsg: a 17 KB page takes 7, a 1 MB one 33 + 1. */
#define FCGIOUT_IOV 64

/* What pads a record to a multiple of 8 bytes (only ever read). */
static unsigned char fcgiout_pad[8];

static void fcgiout_header(FCGI_Header *h, int type, int request_id, size_t clen, size_t plen)
{
	memset(h, 0, sizeof(*h));
	h->version = FCGI_VERSION_1;
	h->type = (unsigned char)type;
	h->requestIdB1 = (unsigned char)((request_id >> 8) & 0xff);
	h->requestIdB0 = (unsigned char)(request_id & 0xff);
	h->contentLengthB1 = (unsigned char)((clen >> 8) & 0xff);
	h->contentLengthB0 = (unsigned char)(clen & 0xff);
	h->paddingLength = (unsigned char)plen;
}

/* Writes iov[0, n) whole, going on after partial writes. Returns 0 or -1 (errno). */
static int fcgiout_send(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		struct msghdr msg;
		ssize_t w;

		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		msg.msg_iovlen = (size_t)n;
		w = sendmsg(fd, &msg, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		/* Every iovec is non-empty, so a blocking socket never returns 0 here. */
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

int fcgiout_end(int fd, int request_id, const struct iovec *parts, int nparts)
{
	struct iovec iov[FCGIOUT_IOV];
	FCGI_Header hdr[FCGIOUT_IOV];
	struct {
		FCGI_Header eof;
		FCGI_EndRequestRecord end;
	} tail;
	size_t left = 0, off = 0;
	int pi = 0, niov = 0;

	_Static_assert(sizeof(tail) == 3 * FCGI_HEADER_LEN, "FastCGI records are unpadded bytes");

	if (nparts < 0 || nparts > FCGIOUT_PARTS_MAX || (nparts > 0 && !parts)) {
		errno = EINVAL;
		return -1;
	}
	for (int i = 0; i < nparts; i++)
		left += parts[i].iov_len;
	while (left > 0) {
		size_t clen = left < FCGIOUT_RECORD_MAX ? left : FCGIOUT_RECORD_MAX;
		size_t plen = (8 - clen % 8) % 8, need = clen;

		/* A record takes its header, one slice of at most every part, its padding. */
		if (niov + nparts + 2 > FCGIOUT_IOV) {
			if (fcgiout_send(fd, iov, niov))
				return -1;
			niov = 0;
		}
		fcgiout_header(&hdr[niov], FCGI_STDOUT, request_id, clen, plen);
		iov[niov] = (struct iovec){ &hdr[niov], sizeof(hdr[niov]) };
		niov++;
		while (need > 0) {
			size_t n = parts[pi].iov_len - off;

			if (n > need)
				n = need;
			if (n > 0) {
				iov[niov++] = (struct iovec){ (char *)parts[pi].iov_base + off, n };
				need -= n;
				off += n;
			}
			if (off == parts[pi].iov_len) {
				pi++;
				off = 0;
			}
		}
		if (plen)
			iov[niov++] = (struct iovec){ fcgiout_pad, plen };
		left -= clen;
	}
	fcgiout_header(&tail.eof, FCGI_STDOUT, request_id, 0, 0);
	fcgiout_header(&tail.end.header, FCGI_END_REQUEST, request_id, sizeof(tail.end.body), 0);
	memset(&tail.end.body, 0, sizeof(tail.end.body));
	tail.end.body.protocolStatus = FCGI_REQUEST_COMPLETE;
	if (niov == FCGIOUT_IOV) {
		if (fcgiout_send(fd, iov, niov))
			return -1;
		niov = 0;
	}
	iov[niov++] = (struct iovec){ &tail, sizeof(tail) };
	return fcgiout_send(fd, iov, niov);
}

void fcgiout_release(FCGX_Request *req)
{
	const char *cl = req->envp ? FCGX_GetParam("CONTENT_LENGTH", req->envp) : NULL;
	int close_it = !req->keepConnection;

	if (req->in && !FCGX_HasSeenEOF(req->in) && (!cl || !cl[0] || strcmp(cl, "0") == 0))
		(void)FCGX_GetChar(req->in);
	if (req->in && FCGX_GetError(req->in))
		close_it = 1;
	else if (close_it && req->in && FCGX_HasSeenEOF(req->in))
		(void)FCGX_Detach(req); /* nothing left unread: a plain close */
	FCGX_Free(req, close_it);
}
