#include "slim_image.h"

#include <c10/util/Exception.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace {
std::vector<int> encode_params(const std::string& ext, int32_t quality) {
  std::string e = ext;
  for (auto& ch : e) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (e == ".jpg" || e == ".jpeg") return {cv::IMWRITE_JPEG_QUALITY, quality};
  if (e == ".png") return {cv::IMWRITE_PNG_COMPRESSION, quality};
  return {};
}

std::string extension_of(const std::string& path) {
  auto dot = path.find_last_of('.');
  return dot == std::string::npos ? std::string() : path.substr(dot);
}
}  // namespace

SLIM_API void slim_image_dispose(slim_image img) { delete img; }

SLIM_API slim_image slim_image_read(const char* path, int32_t flags) {
  SLIM_TRY
  cv::Mat m = cv::imread(path, flags);
  if (m.empty()) throw std::runtime_error(std::string("imread: cannot read or decode ") + path);
  return new cv::Mat(std::move(m));
  SLIM_CATCH(nullptr)
}

SLIM_API slim_image slim_image_decode(const uint8_t* data, int64_t len, int32_t flags) {
  SLIM_TRY
  if (len <= 0) throw std::runtime_error("imdecode: no bytes to decode");
  cv::Mat raw(1, static_cast<int>(len), CV_8UC1, const_cast<uint8_t*>(data));
  cv::Mat m = cv::imdecode(raw, flags);
  if (m.empty()) throw std::runtime_error("imdecode: the bytes are not a decodable image");
  return new cv::Mat(std::move(m));
  SLIM_CATCH(nullptr)
}

SLIM_API slim_image slim_image_from_data(const uint8_t* data, int32_t rows, int32_t cols, int32_t channels) {
  SLIM_TRY
  if (rows <= 0 || cols <= 0 || channels < 1 || channels > 4)
    throw std::runtime_error("from_data: bad image shape");
  auto* m = new cv::Mat(rows, cols, CV_8UC(channels));
  std::memcpy(m->data, data, static_cast<size_t>(rows) * cols * channels);
  return m;
  SLIM_CATCH(nullptr)
}

SLIM_API int32_t slim_image_shape(slim_image img, int32_t* rows, int32_t* cols, int32_t* channels) {
  SLIM_TRY
  *rows = img->rows;
  *cols = img->cols;
  *channels = img->channels();
  return 0;
  SLIM_CATCH(-1)
}

SLIM_API int32_t slim_image_copy_data(slim_image img, uint8_t* dst, int64_t nbytes) {
  SLIM_TRY
  if (img->depth() != CV_8U) throw std::runtime_error("copy_data: image is not 8-bit");
  cv::Mat c = img->isContinuous() ? *img : img->clone();
  int64_t n = static_cast<int64_t>(c.total() * c.elemSize());
  if (n != nbytes)
    throw std::runtime_error("copy_data: image has " + std::to_string(n) + " bytes but the destination has " +
                             std::to_string(nbytes));
  std::memcpy(dst, c.data, static_cast<size_t>(n));
  return 0;
  SLIM_CATCH(-1)
}

SLIM_API slim_buffer slim_image_encode(slim_image img, const char* ext, int32_t quality) {
  SLIM_TRY
  auto* buf = new std::vector<uchar>();
  try {
    if (!cv::imencode(ext, *img, *buf, encode_params(ext, quality)))
      throw std::runtime_error(std::string("imencode: cannot encode as ") + ext);
  } catch (...) {
    delete buf;
    throw;
  }
  return buf;
  SLIM_CATCH(nullptr)
}

SLIM_API int32_t slim_image_write(slim_image img, const char* path, int32_t quality) {
  SLIM_TRY
  if (!cv::imwrite(path, *img, encode_params(extension_of(path), quality)))
    throw std::runtime_error(std::string("imwrite: cannot write ") + path);
  return 0;
  SLIM_CATCH(-1)
}

SLIM_API slim_image slim_image_resize(slim_image img, int32_t width, int32_t height, int32_t interpolation) {
  SLIM_TRY
  cv::Mat out;
  cv::resize(*img, out, cv::Size(width, height), 0, 0, interpolation);
  return new cv::Mat(std::move(out));
  SLIM_CATCH(nullptr)
}

SLIM_API slim_image slim_image_cvt_color(slim_image img, int32_t code) {
  SLIM_TRY
  cv::Mat out;
  cv::cvtColor(*img, out, code);
  return new cv::Mat(std::move(out));
  SLIM_CATCH(nullptr)
}

SLIM_API int32_t slim_image_rectangle(slim_image img, int32_t x1, int32_t y1, int32_t x2, int32_t y2,
                                      double c0, double c1, double c2, int32_t thickness) {
  SLIM_TRY
  cv::rectangle(*img, cv::Point(x1, y1), cv::Point(x2, y2), cv::Scalar(c0, c1, c2), thickness);
  return 0;
  SLIM_CATCH(-1)
}

SLIM_API int32_t slim_image_put_text(slim_image img, const char* text, int32_t x, int32_t y, double scale,
                                     double c0, double c1, double c2, int32_t thickness) {
  SLIM_TRY
  cv::putText(*img, text, cv::Point(x, y), cv::FONT_HERSHEY_SIMPLEX, scale, cv::Scalar(c0, c1, c2), thickness,
              cv::LINE_AA);
  return 0;
  SLIM_CATCH(-1)
}

SLIM_API int32_t slim_image_text_size(const char* text, double scale, int32_t thickness, int32_t* width,
                                      int32_t* height, int32_t* baseline) {
  SLIM_TRY
  int base = 0;
  cv::Size s = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, scale, thickness, &base);
  *width = s.width;
  *height = s.height;
  *baseline = base;
  return 0;
  SLIM_CATCH(-1)
}

SLIM_API void slim_buffer_dispose(slim_buffer buf) { delete static_cast<std::vector<uchar>*>(buf); }

SLIM_API int64_t slim_buffer_size(slim_buffer buf) {
  SLIM_TRY
  return static_cast<int64_t>(static_cast<std::vector<uchar>*>(buf)->size());
  SLIM_CATCH(-1)
}

SLIM_API int32_t slim_buffer_copy(slim_buffer buf, uint8_t* dst, int64_t nbytes) {
  SLIM_TRY
  auto* v = static_cast<std::vector<uchar>*>(buf);
  if (static_cast<int64_t>(v->size()) != nbytes) throw std::runtime_error("buffer_copy: size mismatch");
  if (nbytes > 0) std::memcpy(dst, v->data(), static_cast<size_t>(nbytes));
  return 0;
  SLIM_CATCH(-1)
}

SLIM_API int32_t slim_image_set_num_threads(int32_t n) {
  SLIM_TRY
  int prev = cv::getNumThreads();
  cv::setNumThreads(n);
  return prev;
  SLIM_CATCH(-1)
}
