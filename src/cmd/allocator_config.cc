// jemalloc's settings for the kmsd server (read at its first allocation; MALLOC_CONF in the
// environment overrides them). Measured in docs/SECURITY.md, "Memory and core dumps": under a
// mixed hostile load RSS grew from 16 to ~65 MB and stayed there idle. Not a leak (LeakSanitizer
// finds none; the live heap stays small): most of it was the thread caches of the 64 handler
// threads holding freed 4-14 KiB blocks, and dirty pages that jemalloc only purges when a thread
// allocates again. A background thread now purges idle dirty pages, and blocks above 4 KiB are no
// longer cached per thread: idle RSS ~38 MB after the same load, server CPU per request within the
// noise.
extern "C" {
// NOLINTNEXTLINE: the name and type jemalloc looks for.
const char* malloc_conf = "background_thread:true,tcache_max:4096";
}
