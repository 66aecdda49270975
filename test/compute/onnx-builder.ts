/** The project's ONNX model builder (src/compute/onnx-builder.ts), where the tests have always imported it from. */
export * from '../../src/compute/onnx-builder.js'
