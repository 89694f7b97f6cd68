# deploy/release.mk -- the release artefacts: the source tarball and the Debian package.
#
# Included at the end of the Makefile (it uses VERSION and BUILD):
#
#   make dist      build/dist/chat-VERSION.tar.gz: every file of the checkout
#                  (git ls-files: tracked and new, not ignored) plus the built
#                  web client (web/vendor/, made here by web/build.sh with
#                  npm), so that neither make install nor make deb on it
#                  needs npm or the network. Reproducible: sorted, owner 0,
#                  every mtime that of the last commit, gzip -n.
#   make deb       build/deb/chat_VERSION_ARCH.deb: the tarball unpacked in
#                  build/deb/ and built there with dpkg-buildpackage -b
#                  (debian/, debhelper), then lintian, which fails the
#                  target on any error. The checkout is never written to,
#                  and dpkg-buildpackage's output stays in build/deb/.
#                  Where it can (as root), dpkg-buildpackage runs without a
#                  network (unshare -n), which proves the point of the
#                  tarball: a build needs Debian's packages only.
#   make deb-test  make deb, then the proof (tests/deb/run.sh): the package
#                  unpacked into a throw-away root and deployed from there.
ifndef RELEASE_MK_INCLUDED
RELEASE_MK_INCLUDED := 1

DIST_NAME := chat-$(VERSION)
DIST_DIR  := build/dist
DIST_TAR  := $(DIST_DIR)/$(DIST_NAME).tar.gz
DEB_DIR   := build/deb
NO_NET    = $(shell unshare -n true 2>/dev/null && echo unshare -n)

.PHONY: dist deb deb-test

dist: web-client
	@[ -n "$(VERSION)" ] || { echo "make dist: VERSION is empty (one line in ./VERSION)" >&2; exit 1; }
	@git rev-parse --is-inside-work-tree >/dev/null 2>&1 || \
		{ echo "make dist: needs the git checkout (the list of files is git's)" >&2; exit 1; }
	@mkdir -p $(DIST_DIR)
	@{ git ls-files --cached --others --exclude-standard && ls -1d web/vendor/*; } | \
	  while IFS= read -r f; do [ ! -f "$$f" ] || printf '%s\n' "$$f"; done | \
	  LC_ALL=C sort -u >$(DIST_DIR)/files
	tar --sort=name --owner=0 --group=0 --numeric-owner --mode='u+rw,go=rX' \
		--mtime=@$$(git log -1 --format=%ct) --transform='s,^,$(DIST_NAME)/,' \
		-cf $(DIST_DIR)/$(DIST_NAME).tar \
		--no-recursion --verbatim-files-from --files-from=$(DIST_DIR)/files
	gzip -9nf $(DIST_DIR)/$(DIST_NAME).tar
	@echo "dist: $(DIST_TAR) ($$(tar -tzf $(DIST_TAR) | wc -l) files)"

deb: dist
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)
	tar -C $(DEB_DIR) -xzf $(DIST_TAR)
	cd $(DEB_DIR)/$(DIST_NAME) && \
		DEB_BUILD_OPTIONS="parallel=$$(nproc) $${DEB_BUILD_OPTIONS:-}" \
		$(NO_NET) dpkg-buildpackage -b -us -uc
	lintian --fail-on error $(DEB_DIR)/*.changes
	@ls -l $(DEB_DIR)/*.deb

deb-test:
	tests/deb/run.sh

endif
