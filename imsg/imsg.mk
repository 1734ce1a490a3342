# imsg/: our imsg library (OpenBSD 7.5 API and wire format) and the header of
# all message types. Link IMSG_SRCS objects plus $(LIBS_BSD) (freezero,
# recallocarray).
IMSG_SRCS := imsg/imsg.c imsg/imsg-buffer.c imsg/qb_imsg.c
# The bad-peer policy of the helpers (privnet, vmmon, fsd); needs lib/log.c.
IMSG_PEER_SRCS := imsg/qb_imsg_peer.c
# The main loop of the single-peer helpers (privnet, fsd, spawner).
IMSG_SERVE_SRCS := imsg/qb_imsg_serve.c
