//! Tencent OTA JSON messages. (Being written.)
