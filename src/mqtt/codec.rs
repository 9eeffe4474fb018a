//! MQTT 3.1.1 packet codec. (Being written: see the helper brief.)
