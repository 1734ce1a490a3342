# imsg/: our imsg library (OpenBSD 7.5 API and wire format) and the header of all message types.
