// CORS: the allow-list (matching and checking the configured origins).
#include "api/cors.hpp"

#include <gtest/gtest.h>

using namespace skulk::api;

TEST(Cors, OffByDefaultAndAnAllowListWhenConfigured) {
    CorsPolicy off;
    EXPECT_FALSE(off.enabled());
    EXPECT_FALSE(off.allows("https://a.example"));
    CorsPolicy p;
    ASSERT_EQ(make_cors_policy({"https://Chat.Example.com/", "http://localhost:3000"}, p), "");
    EXPECT_TRUE(p.allows("https://chat.example.com"));
    EXPECT_TRUE(p.allows("http://localhost:3000"));
    EXPECT_FALSE(p.allows("http://localhost:3001"));
    EXPECT_FALSE(p.allows("https://chat.example.com.evil.org"));
    EXPECT_FALSE(p.allows(""));
    CorsPolicy any;
    ASSERT_EQ(make_cors_policy({"*"}, any), "");
    EXPECT_TRUE(any.allows("https://whatever.org"));
}

TEST(Cors, EntriesThatAreNotOriginsAreRefused) {
    CorsPolicy p;
    EXPECT_NE(make_cors_policy({"chat.example.com"}, p).find("\"chat.example.com\" is not an origin"), std::string::npos);
    EXPECT_NE(make_cors_policy({"https://a.org/path"}, p), "");
    EXPECT_NE(make_cors_policy({"https://"}, p), "");
}
