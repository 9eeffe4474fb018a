// Never built: this manifest exists only so that `cargo fetch --locked` brings the pinned
// sources of FreeRTOS-Kernel, lwIP and mbedTLS, and `cargo metadata` says where they are.
