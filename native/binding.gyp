{
  "targets": [
    {
      "target_name": "tinyprune_torch",
      "sources": ["torch_addon.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "/usr/include/torch/csrc/api/include"
      ],
      "defines": ["NODE_ADDON_API_CPP_EXCEPTIONS", "NODE_ADDON_API_CPP_EXCEPTIONS_ALL", "NAPI_VERSION=8"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-O2", "-fexceptions", "-frtti", "-Wno-unused-parameter"],
      "libraries": ["-ltorch", "-ltorch_cpu", "-lc10"]
    }
  ]
}
