// Image I/O and drawing over OpenCV: one export per OpenCV call, no logic. An image handle
// owns one cv::Mat of 8-bit pixels (1 or 3 channels, OpenCV's BGR order for colour); the C#
// side keeps pixels in managed RGB arrays and only borrows a handle for the duration of a call.
#pragma once
#include "slim_common.h"

namespace cv { class Mat; }
typedef cv::Mat* slim_image;
// Bytes produced by an encoder, owned by the handle.
typedef void* slim_buffer;

SLIM_API void slim_image_dispose(slim_image img);
// cv::imread with flags (1 = colour BGR, 0 = grayscale); null with an error when the file is
// missing or cannot be decoded.
SLIM_API slim_image slim_image_read(const char* path, int32_t flags);
// cv::imdecode of len bytes; null with an error when they are not a decodable image.
SLIM_API slim_image slim_image_decode(const uint8_t* data, int64_t len, int32_t flags);
// A new 8-bit image of rows x cols x channels (1, 3 or 4) holding a copy of data (row-major, interleaved).
SLIM_API slim_image slim_image_from_data(const uint8_t* data, int32_t rows, int32_t cols, int32_t channels);
// Rows, columns and channels of the image.
SLIM_API int32_t slim_image_shape(slim_image img, int32_t* rows, int32_t* cols, int32_t* channels);
// Copies the pixels (row-major, interleaved) into dst; nbytes must be rows*cols*channels.
SLIM_API int32_t slim_image_copy_data(slim_image img, uint8_t* dst, int64_t nbytes);
// cv::imencode with extension ext (".jpg", ".png"); quality is the JPEG quality (0-100) or the
// PNG compression level (0-9).
SLIM_API slim_buffer slim_image_encode(slim_image img, const char* ext, int32_t quality);
// cv::imwrite to path (format from the extension), quality as for slim_image_encode.
SLIM_API int32_t slim_image_write(slim_image img, const char* path, int32_t quality);
// cv::resize to width x height with interpolation (0 nearest, 1 linear, 2 cubic, 3 area).
SLIM_API slim_image slim_image_resize(slim_image img, int32_t width, int32_t height, int32_t interpolation);
// cv::cvtColor with an OpenCV conversion code (4 = BGR<->RGB, 6 = BGR->GRAY, 8 = GRAY->BGR).
SLIM_API slim_image slim_image_cvt_color(slim_image img, int32_t code);
// cv::rectangle in place; colour components in the image's channel order.
SLIM_API int32_t slim_image_rectangle(slim_image img, int32_t x1, int32_t y1, int32_t x2, int32_t y2,
                                      double c0, double c1, double c2, int32_t thickness);
// cv::putText in place (FONT_HERSHEY_SIMPLEX) with the text's bottom-left corner at (x, y).
SLIM_API int32_t slim_image_put_text(slim_image img, const char* text, int32_t x, int32_t y, double scale,
                                     double c0, double c1, double c2, int32_t thickness);
// cv::getTextSize for the same font: width, height and baseline in pixels.
SLIM_API int32_t slim_image_text_size(const char* text, double scale, int32_t thickness, int32_t* width,
                                      int32_t* height, int32_t* baseline);

SLIM_API void slim_buffer_dispose(slim_buffer buf);
SLIM_API int64_t slim_buffer_size(slim_buffer buf);
// Copies the buffer into dst; nbytes must equal its size.
SLIM_API int32_t slim_buffer_copy(slim_buffer buf, uint8_t* dst, int64_t nbytes);

// cv::setNumThreads: threads OpenCV's own parallel loops may use (0 or 1: none); returns the previous count.
SLIM_API int32_t slim_image_set_num_threads(int32_t n);
