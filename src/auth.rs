//! Tencent MQTT username/password signing. (Being written.)
