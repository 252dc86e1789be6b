{
  "targets": [
    {
      "target_name": "contrastream_native",
      "sources": [
        "native/src/addon.cc",
        "native/src/threadpool.cc",
        "native/src/gemm.cc",
        "native/src/batched_gemm.cc",
        "native/src/conv.cc",
        "native/src/bn.cc",
        "native/src/augment.cc"
      ],
      "libraries": ["-ldl"],
      "cflags!": ["-fno-exceptions", "-O2", "-O0", "-fno-omit-frame-pointer"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++14", "-O2", "-O0"],
      "cflags_cc": ["-std=c++17", "-O3", "-march=native", "-fno-math-errno", "-fomit-frame-pointer", "-Wno-maybe-uninitialized", "-pthread"],
      "ldflags": ["-pthread"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
