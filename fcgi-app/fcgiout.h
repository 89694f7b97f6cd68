/* fcgiout.h -- a whole FastCGI answer in one system call: its records, the end of the request.
 *
 * libfcgi writes its 8 KB stream buffer each time it fills and the end of
 * the request from FCGX_Finish_r: a 17 KB room list was three writes, each
 * one more wake-up of nginx and one more read on its side, after a copy of
 * the page into the buffer. fcgiout_end frames the answer itself and hands
 * the kernel every record of it at once (sendmsg with an iovec: no copy in
 * user space), so that nginx finds it whole in its first read. */
#ifndef CHAT_FCGIOUT_H
#define CHAT_FCGIOUT_H

#include <fcgiapp.h>
#include <stddef.h>
#include <sys/uio.h>

/* Parts of content at most (http.c sends the header block and three body parts). */
#define FCGIOUT_PARTS_MAX 8

/* Content bytes per FCGI_STDOUT record: the largest multiple of 8 below
 * the protocol's 65535, so only the last record is padded. */
#define FCGIOUT_RECORD_MAX 65528

/*
 * Writes on the connection fd, for request_id, the concatenation of parts
 * [0, nparts) as FCGI_STDOUT records, the empty FCGI_STDOUT record that
 * ends the stream and FCGI_END_REQUEST (application status 0,
 * FCGI_REQUEST_COMPLETE): everything libfcgi's FCGX_Finish_r would have
 * written, so the request must then be released with FCGX_Free, not
 * finished. Parts may be empty. A partial write goes on from where the
 * kernel stopped; EINTR is retried. Returns 0, or -1 with errno set when
 * the connection broke (no SIGPIPE) or nparts is out of range (EINVAL):
 * the request is over either way.
 */
int fcgiout_end(int fd, int request_id, const struct iovec *parts, int nparts)
	__attribute__((warn_unused_result));

/*
 * Releases a request whose end fcgiout_end wrote (instead of FCGX_Finish_r)
 * and closes its connection unless nginx keeps it (fastcgi_keep_conn).
 * When everything nginx sent has been read, FCGI_STDIN up to its end, the
 * connection is closed at once. Else (a body the handler did not read, a
 * broken stream) libfcgi's lingering close runs as FCGX_Finish_r's would:
 * shutdown, then reading until nginx closes (at most 2 s), so that no
 * unread byte turns into a reset of the answer. A request without a body
 * (no CONTENT_LENGTH, or 0) has the end of FCGI_STDIN sent with its
 * parameters: it is read here, from libfcgi's buffer.
 */
void fcgiout_release(FCGX_Request *req);

#endif
