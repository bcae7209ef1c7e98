// Filled by the GPU runtime: gpuForTests() returns a shared GpuContext, or undefined when no
// adapter exists outside CI (under CI=true a missing adapter is a failure).
export {};
