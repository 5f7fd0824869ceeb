// tp_cxx.cpp - C++ checkpoint test: std::vector, std::map, std::string, virtual calls and
// exceptions, kept busy across a checkpoint.
//
// Usage: tp_cxx [seconds (10)]
// Every step appends to a vector, updates a map of strings, calls through a base class and
// throws and catches an exception; at the end the containers are checked against values
// recomputed from scratch. ANSWER depends only on the number of steps. The pause of a step
// follows cr_go.h (CR_GO: none once the go file exists, a wait for it before the last quarter).
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "cr_go.h"

namespace {

uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

struct Shape {
	virtual ~Shape() = default;
	virtual uint64_t area(uint64_t k) const = 0;
};
struct Square : Shape {
	uint64_t area(uint64_t k) const override { return k * k; }
};
struct Tri : Shape {
	uint64_t area(uint64_t k) const override { return k * (k + 1) / 2; }
};

struct StepError : std::runtime_error {
	long step;
	explicit StepError(long s) : std::runtime_error("step " + std::to_string(s)), step(s) {}
};

void maybe_throw(long s)
{
	if (s % 3 == 0)
		throw StepError(s);
}

std::string word(uint64_t v)
{
	std::string w;
	for (int i = 0; i < 8; i++)
		w.push_back(static_cast<char>('a' + (v >> (i * 5)) % 26));
	return w;
}

} // namespace

int main(int argc, char **argv)
{
	setvbuf(stdout, nullptr, _IOLBF, 0);
	long secs = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 10;
	if (secs < 0) {
		std::fprintf(stderr, "usage: tp_cxx [seconds]\n");
		return 2;
	}
	long steps = secs * 10;
	std::vector<uint64_t> vec;
	std::map<uint64_t, std::string> dict;
	std::vector<std::unique_ptr<Shape>> shapes;
	shapes.emplace_back(new Square);
	shapes.emplace_back(new Tri);
	uint64_t area_sum = 0, caught = 0;
	std::printf("READY\n");
	std::fflush(stdout);
	for (long s = 1; s <= steps; s++) {
		for (int k = 0; k < 100; k++)
			vec.push_back(mix(static_cast<uint64_t>(s) * 100 + k));
		uint64_t key = mix(static_cast<uint64_t>(s)) % 500;
		dict[key] += word(mix(key + static_cast<uint64_t>(s)));
		area_sum += shapes[s % 2]->area(static_cast<uint64_t>(s));
		try {
			maybe_throw(s);
		} catch (const StepError &e) {
			caught += static_cast<uint64_t>(e.step);
		}
		cr_pace_us(s - 1, steps, 100000);
	}

	// Recompute everything from scratch and compare.
	const char *fail = nullptr;
	std::map<uint64_t, std::string> ref;
	uint64_t ref_area = 0, ref_caught = 0, vsum = 0;
	for (long s = 1; s <= steps; s++) {
		uint64_t key = mix(static_cast<uint64_t>(s)) % 500;
		ref[key] += word(mix(key + static_cast<uint64_t>(s)));
		ref_area += s % 2 ? static_cast<uint64_t>(s) * (s + 1) / 2
				  : static_cast<uint64_t>(s) * s;
		if (s % 3 == 0)
			ref_caught += static_cast<uint64_t>(s);
		for (int k = 0; k < 100; k++)
			if (vec[(s - 1) * 100 + k] != mix(static_cast<uint64_t>(s) * 100 + k))
				fail = "vector content differs";
	}
	if (vec.size() != static_cast<size_t>(steps) * 100)
		fail = "vector size differs";
	if (ref != dict)
		fail = "map content differs";
	if (ref_area != area_sum)
		fail = "virtual call results differ";
	if (ref_caught != caught)
		fail = "caught exceptions differ";
	uint64_t msum = 0;
	for (const auto &kv : dict)
		for (char c : kv.second)
			msum = msum * 131 + static_cast<unsigned char>(c) + kv.first;
	for (uint64_t v : vec)
		vsum += v;
	std::printf("ANSWER: %zu %zu %016llx %016llx %llu %llu\n", vec.size(), dict.size(),
		    static_cast<unsigned long long>(vsum), static_cast<unsigned long long>(msum),
		    static_cast<unsigned long long>(area_sum),
		    static_cast<unsigned long long>(caught));
	if (fail) {
		std::printf("FAIL: %s\n", fail);
		return 1;
	}
	std::printf("PASS\n");
	return 0;
}
